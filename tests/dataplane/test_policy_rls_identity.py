"""CEL rate limit descriptors that read who the client is: ``jwt.sub`` from the token Envoy's
jwt_authn filter verified on the agw proxy, sent to a real rate limit service (grpc.aio
``ShouldRateLimit`` on the test's loop) that counts per descriptor.

Covers two tokens with different subjects counted apart (one over its limit, the other not), a
request without a token on an Optional requirement leaving the ``jwt`` descriptor out (and
still sending the others), and a token that fails verification answered 401 before the service
is asked. Leaves out ``basicAuth`` and ``apiKey`` in descriptors (built the same way, from the
same identity) and the descriptors themselves (test_policy_rls.py)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest
from envoy.config.core.v3.base_pb2 import DataSource
from envoy.extensions.filters.http.jwt_authn.v3 import config_pb2
from envoy.service.ratelimit.v3 import rls_pb2
from google.protobuf import empty_pb2

from dataplane.config import XdsResources, compile_config
from dataplane.proxy import Proxy
from e2e.jwt_tokens import SigningKey
from tests.dataplane import resources as r
from tests.dataplane.client import fetch, request_bytes
from tests.dataplane.conftest import PROXY_HOST, Backends
from tests.dataplane.test_policy_rls import rate_limit_server
from translator.ir.ratelimit import CelEntry, GenericEntry, GlobalRateLimit, RateLimitService
from translator.xds.policy_ratelimit import build_rate_limit_filters, build_rate_limit_per_route

RLS_HOST = "127.0.20.42"
JWT = "envoy.filters.http.jwt_authn"
ISSUER = "https://issuer.example.com"
KEY = SigningKey("rsa-1")
# Requests each user may make.
LIMIT = 1
Entries = list[tuple[str, str]]


class PerUserService:
    """Limits descriptors that name a user; records every request's descriptors."""

    def __init__(self) -> None:
        self.requests: list[list[Entries]] = []
        self.hits: Counter[tuple[tuple[str, str], ...]] = Counter()

    async def should_rate_limit(self, request: Any, context: Any) -> Any:
        seen = [[(e.key, e.value) for e in d.entries] for d in request.descriptors]
        self.requests.append(seen)
        over = False
        for entries in seen:
            if any(key == "user" for key, _ in entries):
                self.hits[tuple(entries)] += 1
                over = over or self.hits[tuple(entries)] > LIMIT
        code = rls_pb2.RateLimitResponse.OVER_LIMIT if over else rls_pb2.RateLimitResponse.OK
        return rls_pb2.RateLimitResponse(overall_code=code)


@pytest.fixture
async def rls() -> AsyncIterator[tuple[PerUserService, int]]:
    service = PerUserService()
    async with rate_limit_server(service.should_rate_limit, RLS_HOST) as port:
        yield service, port


def jwt_filter() -> config_pb2.JwtAuthentication:
    config = config_pb2.JwtAuthentication()
    config.providers["rsa"].CopyFrom(
        config_pb2.JwtProvider(
            issuer=ISSUER,
            audiences=["api"],
            local_jwks=DataSource(inline_string=KEY.jwks()),
            forward=True,
        )
    )
    optional = config_pb2.JwtRequirement(
        requires_any=config_pb2.JwtRequirementOrList(
            requirements=[
                config_pb2.JwtRequirement(provider_name="rsa"),
                config_pb2.JwtRequirement(allow_missing=empty_pb2.Empty()),
            ]
        )
    )
    config.requirement_map["optional"].CopyFrom(optional)
    return config


async def serve(proxy: Proxy, backends: Backends, rls_port: int) -> tuple[str, int]:
    web = await backends("web")
    limit = GlobalRateLimit(
        RateLimitService("envoy.filters.http.ratelimit/rls", "rls", "test", False, 2.0),
        ((GenericEntry("route", "api"),), (CelEntry("user", "jwt.sub"),)),
    )
    route = r.to_cluster("web", "/api")
    route.typed_per_filter_config[limit.service.name].CopyFrom(build_rate_limit_per_route(limit))
    route.typed_per_filter_config[JWT].Pack(config_pb2.PerRouteConfig(requirement_name="optional"))
    listener = r.listener("l", PROXY_HOST, 0, "rc")
    manager = r.http_manager("rc")
    router = list(manager.http_filters)
    del manager.http_filters[:]
    manager.http_filters.add(name=JWT).typed_config.Pack(jwt_filter())
    manager.http_filters.extend([*build_rate_limit_filters((limit.service,)), *router])
    listener.filter_chains[0].filters[0].typed_config.Pack(manager)
    config = compile_config(
        XdsResources(
            listeners={"l": listener},
            route_configs={"rc": r.route_config("rc", r.vhost("v", ["*"], route))},
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
    return address


def bearer(subject: str, expires_in: int = 600) -> dict[str, str]:
    claims = {"iss": ISSUER, "aud": "api", "sub": subject, "exp": int(time.time()) + expires_in}
    return {"authorization": f"Bearer {KEY.token(claims)}"}


async def test_subjects_are_counted_apart(
    proxy: Proxy, backends: Backends, rls: tuple[PerUserService, int]
) -> None:
    service, port = rls
    address = await serve(proxy, backends, port)

    async def status(headers: dict[str, str]) -> int:
        return (await fetch(*address, request_bytes("GET", "/api", headers=headers))).status

    assert await status(bearer("alice")) == 200
    assert service.requests[-1] == [[("route", "api")], [("user", "alice")]]
    assert await status(bearer("alice")) == 429
    assert await status(bearer("bob")) == 200
    assert service.requests[-1] == [[("route", "api")], [("user", "bob")]]


async def test_no_token_leaves_the_jwt_descriptor_out(
    proxy: Proxy, backends: Backends, rls: tuple[PerUserService, int]
) -> None:
    service, port = rls
    address = await serve(proxy, backends, port)
    for _ in range(LIMIT + 1):
        response = await fetch(*address, request_bytes("GET", "/api"))
        assert response.status == 200
    assert service.requests == [[[("route", "api")]]] * (LIMIT + 1)
    expired = await fetch(*address, request_bytes("GET", "/api", headers=bearer("eve", -3600)))
    assert expired.status == 401
    assert len(service.requests) == LIMIT + 1
