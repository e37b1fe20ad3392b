"""The cors HTTP filter: per-route CorsPolicy with the filter in the connection manager.

Covers preflights from an allowed origin (exact and regex) answered by the proxy with every
configured header and never forwarded, preflights from other origins and requests without an
Origin forwarded untouched, the CORS headers added to forwarded responses (over HTTP/1.1 and
HTTP/2), routes without a policy, a policy ignored when the filter is absent, and the NACK for
CorsPolicy fields not implemented. Leaves out private-network access and shadow policies (not
implemented, hence rejected).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from envoy.extensions.filters.http.cors.v3 import cors_pb2
from envoy.type.matcher.v3 import regex_pb2, string_pb2

from dataplane.config import XdsResources, compile_config
from dataplane.errors import ConfigRejected
from dataplane.proxy import Proxy
from tests.dataplane import resources as r
from tests.dataplane.backend import EchoBackend
from tests.dataplane.client import fetch, request_bytes
from tests.dataplane.conftest import PROXY_HOST, Backends, serve_web

CORS_FILTER = "envoy.filters.http.cors"
APP = "https://app.example.com"


def policy(**fields: Any) -> cors_pb2.CorsPolicy:
    built = cors_pb2.CorsPolicy(
        allow_origin_string_match=[
            string_pb2.StringMatcher(exact=APP),
            string_pb2.StringMatcher(
                safe_regex=regex_pb2.RegexMatcher(regex=r"https://[^/:]+\.example\.org")
            ),
        ],
        allow_methods="GET, POST",
        allow_headers="x-token",
        expose_headers="x-request-id",
        max_age="600",
        **fields,
    )
    built.allow_credentials.value = True
    return built


def cors_listener(with_filter: bool = True) -> Any:
    listener = r.listener("l", PROXY_HOST, 0, "rc")
    manager = r.http_manager("rc")
    if with_filter:
        router = list(manager.http_filters)
        del manager.http_filters[:]
        manager.http_filters.add(name=CORS_FILTER).typed_config.Pack(cors_pb2.Cors())
        manager.http_filters.extend(router)
    listener.filter_chains[0].filters[0].typed_config.Pack(manager)
    return listener


def routes(cors_policy: cors_pb2.CorsPolicy) -> Any:
    with_policy = r.to_cluster("web", "/api")
    with_policy.typed_per_filter_config[CORS_FILTER].Pack(cors_policy)
    return r.route_config("rc", r.vhost("v", ["*"], with_policy, r.to_cluster("web", "/plain")))


async def serve_cors(
    proxy: Proxy, web: EchoBackend, *, with_filter: bool = True, **fields: Any
) -> tuple[str, int]:
    address = await serve_web(proxy, web, cors_listener(with_filter), routes(policy(**fields)))
    return address


def preflight(origin: str, path: str = "/api/x") -> bytes:
    return request_bytes(
        "OPTIONS",
        path,
        headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
    )


@pytest.mark.parametrize("origin", [APP, "https://shop.example.org"])
async def test_preflight_from_an_allowed_origin_is_answered_by_the_proxy(
    proxy: Proxy, backends: Backends, origin: str
) -> None:
    web = await backends("web")
    address = await serve_cors(proxy, web)
    response = await fetch(*address, preflight(origin))
    assert response.status == 200
    assert response.header("access-control-allow-origin") == origin
    assert response.header("access-control-allow-methods") == "GET, POST"
    assert response.header("access-control-allow-headers") == "x-token"
    assert response.header("access-control-max-age") == "600"
    assert response.header("access-control-allow-credentials") == "true"
    assert web.received == []


async def test_other_origins_and_routes_without_a_policy_pass_through(
    proxy: Proxy, backends: Backends
) -> None:
    web = await backends("web")
    address = await serve_cors(proxy, web)
    for data in (
        preflight("https://evil.example.net"),
        preflight(APP, "/plain/x"),
        request_bytes("GET", "/api/x"),
        request_bytes("GET", "/plain/x", headers={"Origin": APP}),
    ):
        response = await fetch(*address, data)
        assert response.status == 200
        assert response.header("access-control-allow-origin") is None
    assert len(web.received) == 4


async def test_forwarded_response_gets_cors_headers(proxy: Proxy, backends: Backends) -> None:
    web = await backends("web")
    address = await serve_cors(proxy, web)
    response = await fetch(*address, request_bytes("GET", "/api/x", headers={"Origin": APP}))
    assert response.status == 200
    assert response.header("access-control-allow-origin") == APP
    assert response.header("access-control-allow-credentials") == "true"
    assert response.header("access-control-expose-headers") == "x-request-id"
    assert response.header("access-control-allow-methods") is None
    host, port = address
    async with httpx.AsyncClient(http1=False, http2=True) as client:
        over_h2 = await client.get(f"http://{host}:{port}/api/y", headers={"origin": APP})
        h2_preflight = await client.options(
            f"http://{host}:{port}/api/y",
            headers={"origin": APP, "access-control-request-method": "GET"},
        )
    assert over_h2.http_version == "HTTP/2"
    assert over_h2.headers["access-control-allow-origin"] == APP
    assert h2_preflight.status_code == 200
    assert h2_preflight.headers["access-control-max-age"] == "600"
    assert len(web.received) == 2


async def test_policy_without_the_filter_does_nothing(proxy: Proxy, backends: Backends) -> None:
    web = await backends("web")
    address = await serve_cors(proxy, web, with_filter=False)
    response = await fetch(*address, preflight(APP))
    assert response.header("access-control-allow-origin") is None
    assert len(web.received) == 1


def test_unimplemented_policy_fields_are_rejected() -> None:
    unimplemented = policy()
    unimplemented.allow_private_network_access.value = True
    with pytest.raises(ConfigRejected, match=r"CorsPolicy\.allow_private_network_access"):
        compile_config(
            XdsResources(
                listeners={"l": cors_listener()},
                route_configs={"rc": routes(unimplemented)},
            )
        )
