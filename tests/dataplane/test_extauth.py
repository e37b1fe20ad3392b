"""The ext_authz HTTP filter on the agw proxy, against real gRPC and HTTP authorization
services (the e2e ones, in threads).

Covers a filter disabled by default and turned on per route (other routes are not checked),
gRPC allow (headers added upstream) and deny (the service's status and body), the route's
context extensions in the gRPC CheckRequest, only ``allowed_headers`` reaching a gRPC
service, the HTTP service's path prefix, its allowed and always-sent headers, its denial
relayed as written and its allowed response headers copied upstream, failing closed with 403
when the service is unreachable, a body cut to ``max_request_bytes`` (or 413 without
``allow_partial_message``) with the whole body still forwarded, the body of a request held
during the check, HTTP/2 clients, and the NACK of fields not implemented. Leaves out TLS to
the auth service (test_policy_service_tls.py) and several filters on one route.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from envoy.config.core.v3 import config_source_pb2, grpc_service_pb2, http_uri_pb2
from envoy.extensions.filters.http.ext_authz.v3 import ext_authz_pb2
from envoy.type.matcher.v3 import string_pb2

from dataplane.config import XdsResources, compile_config
from dataplane.errors import ConfigRejected
from dataplane.proxy import Proxy
from e2e.authz import (
    GOOD_TOKEN,
    GRPC_DENIED_BODY,
    HTTP_DENIED_BODY,
    HTTP_EXTRA_HEADER,
    USER_HEADER,
    GrpcAuthz,
    HttpAuthz,
)
from tests.dataplane import resources as r
from tests.dataplane.backend import EchoBackend
from tests.dataplane.client import fetch, request_bytes
from tests.dataplane.conftest import PROXY_HOST, Backends, free_port

AUTH_HOST = "127.0.20.7"
FILTER = "envoy.filters.http.ext_authz/authz"
GOOD = {"Authorization": GOOD_TOKEN}


@pytest.fixture(scope="module")
def grpc_authz() -> Iterator[GrpcAuthz]:
    with GrpcAuthz(f"{AUTH_HOST}:0") as service:
        yield service


@pytest.fixture(scope="module")
def http_authz() -> Iterator[HttpAuthz]:
    with HttpAuthz((AUTH_HOST, 0)) as service:
        yield service


def _names(*names: str) -> Any:
    return string_pb2.ListStringMatcher(
        patterns=[string_pb2.StringMatcher(exact=n, ignore_case=True) for n in names]
    )


def grpc_filter(allowed: tuple[str, ...] = (), body: int = 0, partial: bool = True) -> Any:
    config = ext_authz_pb2.ExtAuthz(
        transport_api_version=config_source_pb2.V3,
        grpc_service=grpc_service_pb2.GrpcService(
            envoy_grpc=grpc_service_pb2.GrpcService.EnvoyGrpc(cluster_name="authz")
        ),
    )
    config.grpc_service.timeout.FromSeconds(5)
    if allowed:
        config.allowed_headers.CopyFrom(_names(*allowed))
    if body:
        config.with_request_body.max_request_bytes = body
        config.with_request_body.allow_partial_message = partial
    return config


def http_filter(prefix: str = "/check", allowed: tuple[str, ...] = ("x-tenant",)) -> Any:
    service = ext_authz_pb2.HttpService(
        server_uri=http_uri_pb2.HttpUri(uri="http://authz", cluster="authz"), path_prefix=prefix
    )
    service.server_uri.timeout.FromSeconds(5)
    service.authorization_response.allowed_upstream_headers.CopyFrom(_names(USER_HEADER))
    config = ext_authz_pb2.ExtAuthz(
        transport_api_version=config_source_pb2.V3, http_service=service
    )
    config.allowed_headers.CopyFrom(_names(*allowed))
    return config


def resources(config: Any, web: EchoBackend, auth: tuple[str, int]) -> XdsResources:
    listener = r.listener("l", PROXY_HOST, 0, "rc")
    manager = r.http_manager("rc")
    router = list(manager.http_filters)
    del manager.http_filters[:]
    added = manager.http_filters.add(name=FILTER, disabled=True)
    added.typed_config.Pack(config)
    manager.http_filters.extend(router)
    listener.filter_chains[0].filters[0].typed_config.Pack(manager)
    protected = r.to_cluster("web", "/private")
    protected.typed_per_filter_config[FILTER].Pack(
        ext_authz_pb2.ExtAuthzPerRoute(check_settings=ext_authz_pb2.CheckSettings())
    )
    return XdsResources(
        listeners={"l": listener},
        route_configs={
            "rc": r.route_config("rc", r.vhost("v", ["*"], protected, r.to_cluster("web", "/")))
        },
        clusters={"web": r.cluster("web"), "authz": r.cluster("authz")},
        load_assignments={
            "web": r.load_assignment("web", (web.host, web.port)),
            "authz": r.load_assignment("authz", auth),
        },
    )


async def serve(
    proxy: Proxy, config: Any, web: EchoBackend, auth: tuple[str, int]
) -> tuple[str, int]:
    await proxy.apply(compile_config(resources(config, web, auth), "1"))
    address = proxy.address_of("l")
    assert address is not None
    return address


async def test_grpc_allows_denies_and_checks_only_its_routes(
    proxy: Proxy, backends: Backends, grpc_authz: GrpcAuthz
) -> None:
    web = await backends("web")
    address = await serve(proxy, grpc_filter(("authorization",)), web, (AUTH_HOST, grpc_authz.port))
    before = len(grpc_authz.checks)
    allowed = await fetch(
        *address, request_bytes("GET", "/private/x?q=1", headers={**GOOD, "x-secret": "s"})
    )
    assert allowed.status == 200
    assert allowed.echoed(USER_HEADER) == ["alice"]
    check = grpc_authz.checks[-1]
    assert check.path == "/private/x?q=1"
    assert check.headers == {"authorization": GOOD_TOKEN}
    denied = await fetch(*address, request_bytes("GET", "/private/x"))
    assert denied.status == 403
    assert denied.body == GRPC_DENIED_BODY.encode()
    open_route = await fetch(*address, request_bytes("GET", "/public"))
    assert open_route.status == 200
    assert len(grpc_authz.checks) == before + 2
    assert len(web.received) == 2


async def test_grpc_check_carries_the_routes_context_extensions(
    proxy: Proxy, backends: Backends, grpc_authz: GrpcAuthz
) -> None:
    web = await backends("web")
    config = resources(grpc_filter(), web, (AUTH_HOST, grpc_authz.port))
    protected = config.route_configs["rc"].virtual_hosts[0].routes[0]
    settings = ext_authz_pb2.CheckSettings(context_extensions={"tenant": "a", "tier": "gold"})
    protected.typed_per_filter_config[FILTER].Pack(
        ext_authz_pb2.ExtAuthzPerRoute(check_settings=settings)
    )
    await proxy.apply(compile_config(config, "1"))
    address = proxy.address_of("l")
    assert address is not None
    assert (await fetch(*address, request_bytes("GET", "/private", headers=GOOD))).status == 200
    assert grpc_authz.checks[-1].context == {"tenant": "a", "tier": "gold"}


async def test_http_service_path_headers_and_denial(
    proxy: Proxy, backends: Backends, http_authz: HttpAuthz
) -> None:
    web = await backends("web")
    address = await serve(proxy, http_filter(), web, (AUTH_HOST, http_authz.port))
    headers = {**GOOD, "x-tenant": "t1", "x-secret": "s"}
    allowed = await fetch(*address, request_bytes("GET", "/private/a?b=c", headers=headers))
    assert allowed.status == 200
    assert allowed.echoed(USER_HEADER) == ["alice"]
    assert allowed.echoed(HTTP_EXTRA_HEADER) == []
    check = http_authz.checks[-1]
    assert (check.method, check.path) == ("GET", "/check/private/a?b=c")
    assert check.headers["x-tenant"] == "t1"
    assert check.headers["authorization"] == GOOD_TOKEN
    assert "x-secret" not in check.headers
    denied = await fetch(*address, request_bytes("GET", "/private/a"))
    assert denied.status == 401
    assert denied.body == HTTP_DENIED_BODY.encode()
    assert denied.header("www-authenticate") == 'Bearer realm="e2e"'
    assert len(web.received) == 1


@pytest.mark.parametrize("make_filter", [grpc_filter, http_filter])
async def test_unreachable_service_fails_closed(
    proxy: Proxy, backends: Backends, make_filter: Any
) -> None:
    web = await backends("web")
    address = await serve(proxy, make_filter(), web, (AUTH_HOST, free_port(AUTH_HOST)))
    response = await fetch(*address, request_bytes("GET", "/private", headers=GOOD))
    assert response.status == 403
    assert web.received == []


async def test_body_cut_for_the_service_and_whole_upstream(
    proxy: Proxy, backends: Backends, grpc_authz: GrpcAuthz
) -> None:
    web = await backends("web")
    address = await serve(proxy, grpc_filter(body=8), web, (AUTH_HOST, grpc_authz.port))
    body = b"0123456789abcdef" * 64
    response = await fetch(*address, request_bytes("POST", "/private/up", headers=GOOD, body=body))
    assert response.status == 200
    assert grpc_authz.checks[-1].body == body[:8]
    assert web.received[-1].body == body
    denied = await fetch(*address, request_bytes("POST", "/private/up", body=body))
    assert denied.status == 403
    assert len(web.received) == 1
    host, port = address
    async with httpx.AsyncClient(http1=False, http2=True) as client:
        over_h2 = await client.post(
            f"http://{host}:{port}/private/h2", headers=GOOD, content=b"abcdefghij"
        )
    assert over_h2.status_code == 200
    assert grpc_authz.checks[-1].body == b"abcdefgh"
    assert web.received[-1].body == b"abcdefghij"


async def test_body_over_the_limit_without_partial_is_413(
    proxy: Proxy, backends: Backends, grpc_authz: GrpcAuthz
) -> None:
    web = await backends("web")
    config = grpc_filter(body=8, partial=False)
    address = await serve(proxy, config, web, (AUTH_HOST, grpc_authz.port))
    fits = await fetch(*address, request_bytes("POST", "/private", headers=GOOD, body=b"12345678"))
    assert fits.status == 200
    over = await fetch(*address, request_bytes("POST", "/private", headers=GOOD, body=b"123456789"))
    assert over.status == 413
    assert len(web.received) == 1


def test_unimplemented_fields_are_rejected() -> None:
    config = grpc_filter()
    config.include_peer_certificate = True
    web = EchoBackend("web", "127.0.20.2", port=1)
    with pytest.raises(ConfigRejected, match=r"ExtAuthz\.include_peer_certificate"):
        compile_config(resources(config, web, (AUTH_HOST, 1)))
