"""The ``envoy.filters.http.ratelimit`` filter in the agw proxy against a real rate limit service
(grpc.aio ``ShouldRateLimit`` on the test's loop): descriptors from request headers, pseudo
headers, the remote address, generic keys, header matches and CEL entries; 429 with
``x-envoy-ratelimited`` (and the service's headers) past the limit, the backend untouched;
requests whose descriptors are all absent never asked about; on OK answers, the service's
request headers appended to the upstream request and its response headers appended to the
response (forwarded, and the route's own direct response), over HTTP/1.1 and HTTP/2;
failure_mode_deny (500) against failing open when the service is down; a route without the
per-route config unaffected; the NACK for an unsupported action. Config built by the
translator's stage 2 from IR, so the test also pins that the two sides agree.

Leaves out TLS to the service (test_policy_service_tls.py) and CEL entries over ``jwt``
(test_policy_rls_identity.py); response headers on the proxy's error replies (503, 504),
which the ratelimit filter's OK headers do not reach on the agw proxy."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import grpc
import httpx
import pytest
from envoy.config.route.v3 import route_components_pb2 as route_pb2
from envoy.extensions.filters.http.ratelimit.v3 import rate_limit_pb2
from envoy.service.ratelimit.v3 import rls_pb2

from dataplane.config import XdsResources, compile_config
from dataplane.errors import ConfigRejected
from dataplane.proxy import Proxy
from tests.dataplane import resources as r
from tests.dataplane.client import fetch, request_bytes
from tests.dataplane.conftest import PROXY_HOST, Backends, free_port
from translator.ir.ratelimit import (
    CelEntry,
    GenericEntry,
    GlobalRateLimit,
    HeaderEntry,
    HeaderMatchEntry,
    RateLimitService,
    RemoteAddressEntry,
)
from translator.xds.policy_ratelimit import build_rate_limit_filters, build_rate_limit_per_route

RLS_HOST = "127.0.20.40"
LIMIT = 2
# The test client does not bind: it connects from the default loopback address.
CLIENT_ADDRESS = "127.0.0.1"
Seen = list[list[tuple[str, str]]]


class CountingService:
    def __init__(self) -> None:
        self.requests: list[Seen] = []
        self.hits: Counter[tuple[Any, ...]] = Counter()

    async def should_rate_limit(self, request: Any, context: Any) -> Any:
        seen = [[(e.key, e.value) for e in d.entries] for d in request.descriptors]
        self.requests.append(seen)
        over = False
        for entries in seen:
            key = (request.domain, *entries)
            self.hits[key] += 1
            over = over or self.hits[key] > LIMIT
        code = rls_pb2.RateLimitResponse.OVER_LIMIT if over else rls_pb2.RateLimitResponse.OK
        response = rls_pb2.RateLimitResponse(overall_code=code)
        if over:
            response.response_headers_to_add.add(key="x-ratelimit-reason", value="counted")
        else:
            response.response_headers_to_add.add(key="X-RateLimit-Checked", value="yes")
            response.request_headers_to_add.add(key="x-ratelimit-checked", value="yes")
        return response


ShouldRateLimit = Callable[[Any, Any], Awaitable[Any]]


def rate_limit_service(should_rate_limit: ShouldRateLimit) -> grpc.GenericRpcHandler:
    """RateLimitService/ShouldRateLimit, answered by ``should_rate_limit``."""
    handler = grpc.unary_unary_rpc_method_handler(
        should_rate_limit,
        request_deserializer=rls_pb2.RateLimitRequest.FromString,
        response_serializer=rls_pb2.RateLimitResponse.SerializeToString,
    )
    name = "envoy.service.ratelimit.v3.RateLimitService"
    return grpc.method_handlers_generic_handler(name, {"ShouldRateLimit": handler})


@asynccontextmanager
async def rate_limit_server(should_rate_limit: ShouldRateLimit, host: str) -> AsyncIterator[int]:
    """A cleartext rate limit service on ``host``; its port."""
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((rate_limit_service(should_rate_limit),))
    port = server.add_insecure_port(f"{host}:0")
    await server.start()
    try:
        yield port
    finally:
        await server.stop(grace=None)


@pytest.fixture
async def rls() -> AsyncIterator[tuple[CountingService, int]]:
    service = CountingService()
    async with rate_limit_server(service.should_rate_limit, RLS_HOST) as port:
        yield service, port


DESCRIPTORS = (
    (GenericEntry("route", "api"), HeaderEntry("user", "x-user")),
    (HeaderEntry("method", ":method"), RemoteAddressEntry()),
    (HeaderMatchEntry("premium", "x-plan", "premium"),),
    (CelEntry("path-size", "string(size(request.path))"),),
)


def service(deny: bool = False) -> RateLimitService:
    return RateLimitService("envoy.filters.http.ratelimit/rls", "rls", "test", deny, 2.0)


async def serve(proxy: Proxy, backends: Backends, rls_port: int, deny: bool = False) -> Any:
    web = await backends("web")
    limited_route = r.to_cluster("web", "/api")
    direct = r.Route(
        name="direct",
        match=r.RouteMatch(prefix="/direct"),
        direct_response=route_pb2.DirectResponseAction(status=200),
    )
    limit = GlobalRateLimit(service(deny), DESCRIPTORS)
    for limited in (limited_route, direct):
        limited.typed_per_filter_config[limit.service.name].CopyFrom(
            build_rate_limit_per_route(limit)
        )
    listener = r.listener("l", PROXY_HOST, 0, "rc")
    manager = r.http_manager("rc")
    router = list(manager.http_filters)
    del manager.http_filters[:]
    manager.http_filters.extend([*build_rate_limit_filters((limit.service,)), *router])
    listener.filter_chains[0].filters[0].typed_config.Pack(manager)
    config = compile_config(
        XdsResources(
            listeners={"l": listener},
            route_configs={
                "rc": r.route_config(
                    "rc", r.vhost("v", ["*"], limited_route, direct, r.to_cluster("web"))
                )
            },
            clusters={"web": r.cluster("web"), "rls": r.cluster("rls")},
            load_assignments={
                "web": r.load_assignment("web", (web.host, web.port)),
                "rls": r.load_assignment("rls", (RLS_HOST, rls_port)),
            },
        ),
        "1",
    )
    await proxy.apply(config)
    address = proxy.address_of("l")
    assert address is not None
    return address[0], address[1], web


async def test_descriptors_and_429_past_the_limit(
    proxy: Proxy, backends: Backends, rls: tuple[CountingService, int]
) -> None:
    counting, port = rls
    host, proxy_port, web = await serve(proxy, backends, port)
    headers = {"x-user": "alice", "x-plan": "premium"}
    for _ in range(LIMIT):
        ok = await fetch(host, proxy_port, request_bytes("GET", "/api/x", headers=headers))
        assert ok.status == 200
    assert counting.requests[0] == [
        [("route", "api"), ("user", "alice")],
        [("method", "GET"), ("remote_address", CLIENT_ADDRESS)],
        [("premium", "true")],
        [("path-size", "6")],
    ]
    refused = await fetch(host, proxy_port, request_bytes("GET", "/api/x", headers=headers))
    assert refused.status == 429
    assert refused.header("x-envoy-ratelimited") == "true"
    assert refused.header("x-ratelimit-reason") == "counted"
    assert len(web.received) == LIMIT
    # Not limited: the route without the per-route config, never asked about.
    asked = len(counting.requests)
    assert (await fetch(host, proxy_port, request_bytes("GET", "/other"))).status == 200
    assert len(counting.requests) == asked


async def test_absent_entries_leave_their_descriptor_out(
    proxy: Proxy, backends: Backends, rls: tuple[CountingService, int]
) -> None:
    counting, port = rls
    host, proxy_port, _ = await serve(proxy, backends, port)
    response = await fetch(host, proxy_port, request_bytes("POST", "/api", headers={"x-plan": "x"}))
    assert response.status == 200
    # No x-user (first), no premium plan (third): both left out.
    assert counting.requests[-1] == [
        [("method", "POST"), ("remote_address", CLIENT_ADDRESS)],
        [("path-size", "4")],
    ]


async def test_headers_of_an_ok_answer_are_appended(
    proxy: Proxy, backends: Backends, rls: tuple[CountingService, int]
) -> None:
    _, port = rls
    host, proxy_port, web = await serve(proxy, backends, port)
    sent = {"x-ratelimit-checked": "client", "x-user": "carol"}
    response = await fetch(host, proxy_port, request_bytes("GET", "/api/ok", headers=sent))
    assert response.status == 200
    assert response.header("x-ratelimit-checked") == "yes"
    # Appended, as Envoy's filter does, not set: the client's value stays.
    assert web.received[0].header_values("x-ratelimit-checked") == ["client", "yes"]
    direct = await fetch(host, proxy_port, request_bytes("GET", "/direct"))
    assert direct.status == 200
    assert direct.header("x-ratelimit-checked") == "yes"
    unlimited = await fetch(host, proxy_port, request_bytes("GET", "/other"))
    assert unlimited.header("x-ratelimit-checked") is None
    async with httpx.AsyncClient(http1=False, http2=True) as client:
        # POST, another path size: the limits of the two GETs above are used up.
        over_h2 = await client.post(f"http://{host}:{proxy_port}/api/h2/x")
    assert over_h2.http_version == "HTTP/2"
    assert over_h2.status_code == 200
    assert over_h2.headers.get_list("x-ratelimit-checked") == ["yes"]


@pytest.mark.parametrize(("deny", "status"), [(True, 500), (False, 200)])
async def test_failure_mode_when_the_service_is_down(
    proxy: Proxy, backends: Backends, deny: bool, status: int
) -> None:
    host, proxy_port, _ = await serve(proxy, backends, free_port(RLS_HOST), deny)
    response = await fetch(host, proxy_port, request_bytes("GET", "/api/x"))
    assert response.status == status


def test_an_unsupported_action_is_rejected() -> None:
    limited_route = r.to_cluster("web", "/api")
    per_route = rate_limit_pb2.RateLimitPerRoute(
        rate_limits=[
            route_pb2.RateLimit(
                actions=[
                    route_pb2.RateLimit.Action(
                        source_cluster=route_pb2.RateLimit.Action.SourceCluster()
                    )
                ]
            )
        ]
    )
    limited_route.typed_per_filter_config["envoy.filters.http.ratelimit/rls"].Pack(per_route)
    resources = XdsResources(
        listeners={},
        route_configs={"rc": r.route_config("rc", r.vhost("v", ["*"], limited_route))},
        clusters={},
        load_assignments={},
    )
    with pytest.raises(ConfigRejected, match="source_cluster"):
        compile_config(resources, "1")
