"""TLS from the agw proxy to the services its filters ask per request, when the service's
cluster has an UpstreamTlsContext: the rate limit service (gRPC), and ext_authz services over
gRPC and HTTP. Real servers on loopback with certificates from a test CA (trustme), trust and
the proxy's client certificate by SDS, as the translator emits a backend's TLS.

Covers answers over TLS (the rate limit service's OK with a response header, ext_authz's allow
with a header for the upstream), mutual TLS (a service that requires the proxy's client
certificate), the SNI sent; and each filter's failure mode when the connection is not
acceptable: a server certificate from a CA the proxy does not trust, one without the expected
subject alt name, a service requiring a client certificate the cluster does not give (rate
limit: 500 under failure_mode_deny, else the request goes on; ext_authz: 403). Leaves out the
remote JWKS fetch over TLS (test_policy_jwks_tls.py) and certificate revocation."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
import pytest
import trustme
from envoy.config.core.v3 import base_pb2, config_source_pb2, http_uri_pb2
from envoy.extensions.filters.http.ext_authz.v3 import ext_authz_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from envoy.service.auth.v3 import external_auth_pb2
from envoy.service.ratelimit.v3 import rls_pb2
from google.protobuf import any_pb2

from dataplane.config import XdsResources, compile_config
from dataplane.proxy import Proxy
from tests.dataplane import resources as r
from tests.dataplane.client import fetch, request_bytes
from tests.dataplane.conftest import PROXY_HOST, Backends
from tests.dataplane.service_tls import (
    ROGUE_CERT,
    SERVICE_CERT,
    SERVICE_NAME,
    TlsServers,
    grpc_credentials,
    secrets,
    server_context,
    tls_cluster,
)
from tests.dataplane.test_policy_rls import rate_limit_service
from translator.ir.ratelimit import GenericEntry, GlobalRateLimit, RateLimitService
from translator.xds.policy_ratelimit import build_rate_limit_filters, build_rate_limit_per_route

SERVICE_HOST = "127.0.20.43"
AUTHZ = "envoy.filters.http.ext_authz/authz"
USER_HEADER = "x-auth-user"


class Calls:
    """What a test service answered."""

    def __init__(self) -> None:
        self.count = 0

    async def should_rate_limit(self, request: Any, context: Any) -> Any:
        self.count += 1
        answer = rls_pb2.RateLimitResponse(overall_code=rls_pb2.RateLimitResponse.OK)
        answer.response_headers_to_add.add(key="x-rls", value="over-tls")
        return answer

    async def check(self, request: Any, context: Any) -> Any:
        self.count += 1
        answer = external_auth_pb2.CheckResponse()
        answer.ok_response.headers.add(header=base_pb2.HeaderValue(key=USER_HEADER, value="grpc"))
        return answer


StartGrpc = Callable[..., Awaitable[tuple[Calls, int]]]


@pytest.fixture
async def grpc_service() -> AsyncIterator[StartGrpc]:
    servers: list[Any] = []

    async def start(cert: trustme.LeafCert, *, require_client_cert: bool = False) -> Any:
        calls = Calls()
        server = grpc.aio.server()
        check = grpc.unary_unary_rpc_method_handler(
            calls.check,
            request_deserializer=external_auth_pb2.CheckRequest.FromString,
            response_serializer=external_auth_pb2.CheckResponse.SerializeToString,
        )
        authorization = grpc.method_handlers_generic_handler(
            "envoy.service.auth.v3.Authorization", {"Check": check}
        )
        server.add_generic_rpc_handlers(
            (rate_limit_service(calls.should_rate_limit), authorization)
        )
        credentials = grpc_credentials(cert, require_client_cert=require_client_cert)
        port = server.add_secure_port(f"{SERVICE_HOST}:0", credentials)
        await server.start()
        servers.append(server)
        return calls, port

    yield start
    for server in servers:
        await server.stop(grace=None)


async def serve(
    proxy: Proxy,
    backends: Backends,
    filters: tuple[Any, Any],
    service_cluster: Any,
    service_port: int,
) -> tuple[str, int]:
    """One route, /guarded, with an HTTP filter (disabled, turned on by the route's packed
    config: ``filters``) asking the service behind ``service_cluster``."""
    web = await backends("web")
    http_filter, per_route = filters
    guarded = r.to_cluster("web", "/guarded")
    guarded.typed_per_filter_config[http_filter.name].CopyFrom(per_route)
    listener = r.listener("l", PROXY_HOST, 0, "rc")
    manager = r.http_manager("rc")
    router = list(manager.http_filters)
    del manager.http_filters[:]
    manager.http_filters.extend([http_filter, *router])
    listener.filter_chains[0].filters[0].typed_config.Pack(manager)
    service = service_cluster.name
    resources = XdsResources(
        listeners={"l": listener},
        route_configs={"rc": r.route_config("rc", r.vhost("v", ["*"], guarded))},
        clusters={"web": r.cluster("web"), service: service_cluster},
        load_assignments={
            "web": r.load_assignment("web", (web.host, web.port)),
            service: r.load_assignment(service, (SERVICE_HOST, service_port)),
        },
        secrets=secrets(),
    )
    await proxy.apply(compile_config(resources, "1"))
    address = proxy.address_of("l")
    assert address is not None
    return address


def rate_limit(deny: bool) -> tuple[Any, Any]:
    """The ratelimit filter as the translator builds it, and the route's config for it."""
    limit = GlobalRateLimit(
        RateLimitService("envoy.filters.http.ratelimit/rls", "rls", "tls", deny, 2.0),
        ((GenericEntry("route", "guarded"),),),
    )
    (built,) = build_rate_limit_filters((limit.service,))
    return built, build_rate_limit_per_route(limit)


async def test_rate_limit_service_over_mutual_tls(
    proxy: Proxy, backends: Backends, grpc_service: StartGrpc
) -> None:
    calls, port = await grpc_service(SERVICE_CERT, require_client_cert=True)
    cluster = tls_cluster("rls", http2=True, client_cert=True)
    address = await serve(proxy, backends, rate_limit(deny=True), cluster, port)
    for _ in range(2):
        response = await fetch(*address, request_bytes("GET", "/guarded"))
        assert response.status == 200
        assert response.header("x-rls") == "over-tls"
    assert calls.count == 2


@pytest.mark.parametrize(
    ("cert", "san", "client_cert", "deny", "status"),
    [
        (ROGUE_CERT, SERVICE_NAME, True, True, 500),
        (ROGUE_CERT, SERVICE_NAME, True, False, 200),
        (SERVICE_CERT, "other.example.com", True, True, 500),
        (SERVICE_CERT, SERVICE_NAME, False, True, 500),
    ],
    ids=["untrusted-deny", "untrusted-allow", "wrong-name", "no-client-cert"],
)
async def test_rate_limit_failure_modes(
    proxy: Proxy,
    backends: Backends,
    grpc_service: StartGrpc,
    cert: trustme.LeafCert,
    san: str,
    client_cert: bool,
    deny: bool,
    status: int,
) -> None:
    calls, port = await grpc_service(cert, require_client_cert=True)
    cluster = tls_cluster("rls", http2=True, san=san, client_cert=client_cert)
    address = await serve(proxy, backends, rate_limit(deny), cluster, port)
    response = await fetch(*address, request_bytes("GET", "/guarded"))
    assert response.status == status
    assert response.header("x-rls") is None
    assert calls.count == 0


def authz_filter(over_grpc: bool) -> tuple[Any, Any]:
    """An ext_authz filter asking cluster "authz", and a route's config turning it on."""
    config = ext_authz_pb2.ExtAuthz(transport_api_version=config_source_pb2.V3)
    if over_grpc:
        config.grpc_service.envoy_grpc.cluster_name = "authz"
        config.grpc_service.timeout.FromSeconds(5)
    else:
        service = config.http_service
        service.server_uri.CopyFrom(
            http_uri_pb2.HttpUri(uri=f"https://{SERVICE_NAME}", cluster="authz")
        )
        service.server_uri.timeout.FromSeconds(5)
        service.authorization_response.allowed_upstream_headers.patterns.add(exact=USER_HEADER)
    http_filter = hcm_pb2.HttpFilter(name=AUTHZ, disabled=True)
    http_filter.typed_config.Pack(config)
    per_route = any_pb2.Any()
    per_route.Pack(ext_authz_pb2.ExtAuthzPerRoute(check_settings=ext_authz_pb2.CheckSettings()))
    return http_filter, per_route


class HttpAuthz:
    """An HTTP authorization service over TLS: allows everything, naming the user."""

    def __init__(self) -> None:
        self.count = 0
        self.server_names: list[str | None] = []
        self.port = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        self.count += 1
        head = f"HTTP/1.1 200 OK\r\n{USER_HEADER}: http\r\ncontent-length: 0\r\n\r\n"
        writer.write(head.encode())
        await writer.drain()
        writer.close()


@pytest.fixture
async def http_authz() -> AsyncIterator[Callable[[trustme.LeafCert], Awaitable[HttpAuthz]]]:
    servers = TlsServers()

    async def start(cert: trustme.LeafCert) -> HttpAuthz:
        service = HttpAuthz()
        context = server_context(cert, require_client_cert=True, server_names=service.server_names)
        service.port = await servers.start(service.handle, SERVICE_HOST, context)
        return service

    yield start
    await servers.close()


@pytest.mark.parametrize(("cert", "status"), [(SERVICE_CERT, 200), (ROGUE_CERT, 403)])
async def test_grpc_authorization_over_tls(
    proxy: Proxy, backends: Backends, grpc_service: StartGrpc, cert: trustme.LeafCert, status: int
) -> None:
    calls, port = await grpc_service(cert, require_client_cert=True)
    cluster = tls_cluster("authz", http2=True, client_cert=True)
    address = await serve(proxy, backends, authz_filter(over_grpc=True), cluster, port)
    response = await fetch(*address, request_bytes("GET", "/guarded"))
    assert response.status == status
    assert calls.count == (1 if status == 200 else 0)
    if status == 200:
        assert response.echoed(USER_HEADER) == ["grpc"]


@pytest.mark.parametrize(("cert", "status"), [(SERVICE_CERT, 200), (ROGUE_CERT, 403)])
async def test_http_authorization_over_tls(
    proxy: Proxy,
    backends: Backends,
    http_authz: Callable[[trustme.LeafCert], Awaitable[HttpAuthz]],
    cert: trustme.LeafCert,
    status: int,
) -> None:
    service = await http_authz(cert)
    cluster = tls_cluster("authz", client_cert=True)
    address = await serve(proxy, backends, authz_filter(over_grpc=False), cluster, service.port)
    response = await fetch(*address, request_bytes("GET", "/guarded"))
    assert response.status == status
    assert service.server_names == [SERVICE_NAME]
    assert service.count == (1 if status == 200 else 0)
    if status == 200:
        assert response.echoed(USER_HEADER) == ["http"]
