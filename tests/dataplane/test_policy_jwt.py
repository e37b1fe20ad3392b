"""Envoy's jwt_authn filter on the agw proxy: providers with inline key sets, requirements named
per route.

Covers RS256 and ES256 tokens from the bearer header, a custom header with a prefix and a query
parameter; 401 for missing, expired, not-yet-valid, badly signed, unknown-kid and wrong-issuer
tokens, 403 for a wrong audience; Strict, Optional (allow_missing) and Permissive
(allow_missing_or_failed); claims reaching CEL as ``jwt``; routes without a requirement left
alone; and NACKs for remote key sets and token removal. Leaves out remote JWKS (not
implemented) and cookies beyond one lookup.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from envoy.config.core.v3.base_pb2 import DataSource
from envoy.extensions.filters.http.jwt_authn.v3 import config_pb2
from google.protobuf import empty_pb2

from agwproto.agw.filters.v1alpha1 import transformation_pb2
from dataplane.config import XdsResources, compile_config
from dataplane.errors import ConfigRejected
from dataplane.proxy import Proxy
from e2e.jwt_tokens import SigningKey
from tests.dataplane import resources as r
from tests.dataplane.client import fetch, request_bytes
from tests.dataplane.conftest import PROXY_HOST, Backends

JWT = "envoy.filters.http.jwt_authn"
TRANSFORMATION = "agw.filters.http.transformation"
ISSUER = "https://issuer.example.com"
RSA_KEY = SigningKey("rsa-1")
EC_KEY = SigningKey("ec-1", alg="ES256")


def provider(key: SigningKey, **fields: Any) -> config_pb2.JwtProvider:
    return config_pb2.JwtProvider(
        issuer=ISSUER,
        audiences=["api"],
        local_jwks=DataSource(inline_string=key.jwks()),
        forward=True,
        **fields,
    )


def requirement(*names: str, allow: str = "") -> config_pb2.JwtRequirement:
    choices = [config_pb2.JwtRequirement(provider_name=name) for name in names]
    if allow:
        choices.append(config_pb2.JwtRequirement(**{allow: empty_pb2.Empty()}))
    if len(choices) == 1:
        return choices[0]
    return config_pb2.JwtRequirement(
        requires_any=config_pb2.JwtRequirementOrList(requirements=choices)
    )


def jwt_filter(**provider_fields: Any) -> config_pb2.JwtAuthentication:
    config = config_pb2.JwtAuthentication()
    config.providers["rsa"].CopyFrom(provider(RSA_KEY))
    config.providers["ec"].CopyFrom(provider(EC_KEY, **provider_fields))
    config.requirement_map["strict"].CopyFrom(requirement("rsa", "ec"))
    config.requirement_map["optional"].CopyFrom(requirement("rsa", allow="allow_missing"))
    config.requirement_map["permissive"].CopyFrom(
        requirement("rsa", allow="allow_missing_or_failed")
    )
    return config


def configured(config: config_pb2.JwtAuthentication, web: Any = None) -> Any:
    listener = r.listener("l", PROXY_HOST, 0, "rc")
    manager = r.http_manager("rc")
    router = list(manager.http_filters)
    del manager.http_filters[:]
    manager.http_filters.add(name=JWT).typed_config.Pack(config)
    manager.http_filters.add(name=TRANSFORMATION).typed_config.Pack(
        transformation_pb2.Transformation()
    )
    manager.http_filters.extend(router)
    listener.filter_chains[0].filters[0].typed_config.Pack(manager)
    routes = []
    for name in ("strict", "optional", "permissive"):
        route = r.to_cluster("web", f"/{name}")
        route.typed_per_filter_config[JWT].Pack(config_pb2.PerRouteConfig(requirement_name=name))
        sub = transformation_pb2.Transform(
            set=[transformation_pb2.HeaderExpression(name="x-sub", expression="jwt.sub")]
        )
        route.typed_per_filter_config[TRANSFORMATION].Pack(
            transformation_pb2.TransformationPerRoute(request=sub)
        )
        routes.append(route)
    routes.append(r.to_cluster("web", "/"))
    resources = XdsResources(
        listeners={"l": listener},
        route_configs={"rc": r.route_config("rc", r.vhost("v", ["*"], *routes))},
    )
    if web is not None:
        resources = XdsResources(
            listeners=resources.listeners,
            route_configs=resources.route_configs,
            clusters={"web": r.cluster("web")},
            load_assignments={"web": r.load_assignment("web", (web.host, web.port))},
        )
    return compile_config(resources, "1")


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"iss": ISSUER, "aud": "api", "sub": "alice", "exp": now + 600, **overrides}


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


@pytest.fixture
async def address(proxy: Proxy, backends: Backends) -> tuple[str, int]:
    web = await backends("web")
    config = jwt_filter(
        from_headers=[config_pb2.JwtHeader(name="x-token", value_prefix="Token ")],
        from_params=["jwt"],
    )
    await proxy.apply(configured(config, web))
    found = proxy.address_of("l")
    assert found is not None
    return found


OTHER_KEY = SigningKey("rsa-1")
NOW = int(time.time())


@pytest.mark.parametrize(
    ("path", "headers", "status"),
    [
        ("/strict", bearer(RSA_KEY.token(claims())), 200),
        ("/strict", {"x-token": "Token " + EC_KEY.token(claims())}, 200),
        ("/strict?jwt=" + EC_KEY.token(claims()), {}, 200),
        ("/strict", {}, 401),
        ("/strict", bearer(EC_KEY.token(claims())), 401),  # the ec provider reads x-token only
        ("/strict", bearer(RSA_KEY.token(claims(exp=NOW - 3600))), 401),
        ("/strict", bearer(RSA_KEY.token(claims(nbf=NOW + 3600))), 401),
        ("/strict", bearer(OTHER_KEY.token(claims())), 401),
        ("/strict", bearer(RSA_KEY.token(claims(), kid="unknown")), 401),
        ("/strict", bearer(RSA_KEY.token(claims(iss="https://other.example.com"))), 401),
        ("/strict", bearer(RSA_KEY.token(claims(aud=["web", "mobile"]))), 403),
        ("/strict", bearer(RSA_KEY.token(claims(aud=["web", "api"]))), 200),
        ("/strict", bearer("not.a.jwt"), 401),
        ("/optional", {}, 200),
        ("/optional", bearer(RSA_KEY.token(claims(exp=NOW - 3600))), 401),
        ("/permissive", bearer(RSA_KEY.token(claims(exp=NOW - 3600))), 200),
        ("/permissive", bearer(RSA_KEY.token(claims())), 200),
        ("/", {}, 200),
    ],
)
async def test_requirements(
    address: tuple[str, int], path: str, headers: dict[str, str], status: int
) -> None:
    response = await fetch(*address, request_bytes("GET", path, headers=headers))
    assert response.status == status, response.body
    if status == 200 and path.startswith("/strict"):
        assert response.echoed("x-sub") == ["alice"]


async def test_failed_tokens_give_no_claims(address: tuple[str, int]) -> None:
    expired = bearer(RSA_KEY.token(claims(exp=NOW - 3600)))
    response = await fetch(*address, request_bytes("GET", "/permissive", headers=expired))
    assert response.status == 200
    assert response.echoed("x-sub") == []
    missing = await fetch(*address, request_bytes("GET", "/strict"))
    assert missing.body == b"Jwt is missing"


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda p: p.ClearField("local_jwks") or p.remote_jwks.http_uri.SetInParent(), "remote"),
        (lambda p: setattr(p, "forward", False), "forward"),
        (lambda p: setattr(p, "require_expiration", True), "require_expiration"),
    ],
)
def test_providers_agw_cannot_honour_are_rejected(change: Any, match: str) -> None:
    config = jwt_filter()
    change(config.providers["ec"])
    with pytest.raises(ConfigRejected, match=match):
        configured(config)
