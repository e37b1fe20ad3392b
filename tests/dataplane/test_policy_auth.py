"""The HTTP filters for AgentgatewayPolicy auth: Envoy's basic_auth and api_key_auth (per-route
credentials), agw's CEL authorization and CEL transformation.

Covers Deny, Require and Allow rules together (403 before the backend is reached), rules
whose expressions fail (no match) or do not compile (a Deny rule denies), request headers
set, appended and removed from CEL with metadata, response headers (on forwarded responses,
not on a denial, which happens first), HTTP/2 clients, per-route configs ignored without the
filters in the chain, the NACK for a non-empty filter config; basic authentication (401s for
missing, wrong and unknown credentials, ``basicAuth.username`` in CEL) and the NACKs for a
basic_auth on every route and for a malformed hash; API keys from the bearer header, a bare
header or the query (401 for missing, unknown, or no keys configured; ``apiKey.client`` in
CEL; keys stored as SHA-256 digests). Leaves out ``jwt`` (test_policy_jwt.py) and hashes
other than {SHA} (test_htpasswd.py).
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import httpx
import pytest
from envoy.config.core.v3.base_pb2 import DataSource
from envoy.extensions.filters.http.api_key_auth.v3 import api_key_auth_pb2
from envoy.extensions.filters.http.basic_auth.v3 import basic_auth_pb2

from agwproto.agw.filters.v1alpha1 import auth_options_pb2, authorization_pb2, transformation_pb2
from dataplane.config import XdsResources, compile_config
from dataplane.errors import ConfigRejected
from dataplane.proxy import Proxy
from tests.dataplane import resources as r
from tests.dataplane.client import fetch, request_bytes
from tests.dataplane.conftest import PROXY_HOST, Backends, serve_web

AUTHORIZATION = "agw.filters.http.authorization"
TRANSFORMATION = "agw.filters.http.transformation"
OPTIONS = "agw.filters.http.auth_options"
Rule = authorization_pb2.AuthorizationRule
Header = transformation_pb2.HeaderExpression


def auth_listener(with_filters: bool = True) -> Any:
    listener = r.listener("l", PROXY_HOST, 0, "rc")
    manager = r.http_manager("rc")
    if with_filters:
        router = list(manager.http_filters)
        del manager.http_filters[:]
        manager.http_filters.add(name=AUTHORIZATION).typed_config.Pack(
            authorization_pb2.Authorization()
        )
        manager.http_filters.add(name=TRANSFORMATION).typed_config.Pack(
            transformation_pb2.Transformation()
        )
        manager.http_filters.extend(router)
    listener.filter_chains[0].filters[0].typed_config.Pack(manager)
    return listener


RULES = [
    Rule(action=Rule.DENY, expressions=["request.headers['user-agent'].contains('bot')"]),
    Rule(action=Rule.REQUIRE, expressions=["request.method == 'GET'", "has(request.headers.x)"]),
    Rule(action=Rule.ALLOW, expressions=["request.path.startsWith('/api/open')"]),
    Rule(action=Rule.ALLOW, expressions=["request.headers['x-role'] == 'admin'"]),
]

TRANSFORM = transformation_pb2.TransformationPerRoute(
    request=transformation_pb2.Transform(
        set=[
            Header(name="x-route-path", expression="request.path"),
            Header(name="x-fails", expression="request.headers['absent']"),
        ],
        add=[Header(name="x-tag", expression="metadata.tag + '-' + request.method")],
        remove=["x-internal"],
        metadata={"tag": "'gw'"},
    ),
    response=transformation_pb2.Transform(
        set=[Header(name="x-served-for", expression="request.host")],
        add=[Header(name="x-count", expression="size(request.path)")],
    ),
)


def routes(rules: list[Any]) -> Any:
    guarded = r.to_cluster("web", "/api")
    guarded.typed_per_filter_config[AUTHORIZATION].Pack(
        authorization_pb2.AuthorizationPerRoute(rules=rules)
    )
    guarded.typed_per_filter_config[TRANSFORMATION].Pack(TRANSFORM)
    return r.route_config("rc", r.vhost("v", ["*"], guarded, r.to_cluster("web", "/")))


async def serve_auth(
    proxy: Proxy, backends: Backends, rules: list[Any] | None = None, with_filters: bool = True
) -> tuple[str, int, Any]:
    web = await backends("web")
    address = await serve_web(
        proxy, web, auth_listener(with_filters), routes(RULES if rules is None else rules)
    )
    return address[0], address[1], web


@pytest.mark.parametrize(
    ("method", "path", "headers", "status"),
    [
        ("GET", "/api/open", {}, 200),
        ("GET", "/api/x", {"x-role": "admin"}, 200),
        ("GET", "/api/x", {"x-role": "user"}, 403),
        ("GET", "/api/open", {"user-agent": "evilbot/1"}, 403),
        ("POST", "/api/open", {}, 403),
        ("POST", "/api/open", {"x": "1"}, 200),
        ("POST", "/other", {"user-agent": "evilbot/1"}, 200),
    ],
)
async def test_rules_decide_before_the_backend(
    proxy: Proxy,
    backends: Backends,
    method: str,
    path: str,
    headers: dict[str, str],
    status: int,
) -> None:
    host, port, web = await serve_auth(proxy, backends)
    response = await fetch(host, port, request_bytes(method, path, headers=headers))
    assert response.status == status
    assert len(web.received) == (1 if status == 200 else 0)
    if status == 403:
        assert response.body == b"RBAC: access denied"
        # The transformation filter runs after authorization: a denial never reaches it.
        assert response.header("x-served-for") is None


@pytest.mark.parametrize(
    ("rule", "status"),
    [
        (Rule(action=Rule.DENY, expressions=["request.headers['absent'] == 'x'"]), 200),
        (Rule(action=Rule.REQUIRE, expressions=["request.headers['absent'] == 'x'"]), 403),
        (Rule(action=Rule.REQUIRE, expressions=["request.path ==="]), 403),
        (Rule(action=Rule.ALLOW, expressions=["request.headers['absent'] == 'x'"]), 403),
        (Rule(action=Rule.DENY, expressions=["request.path ==="]), 403),
        (Rule(action=Rule.DENY, expressions=["request.path == '/nope'"]), 200),
    ],
)
async def test_failing_expressions_never_match_and_broken_deny_rules_deny(
    proxy: Proxy, backends: Backends, rule: Any, status: int
) -> None:
    host, port, _ = await serve_auth(proxy, backends, [rule])
    response = await fetch(host, port, request_bytes("GET", "/api/x"))
    assert response.status == status


async def test_transformation_rewrites_request_and_response_headers(
    proxy: Proxy, backends: Backends
) -> None:
    host, port, web = await serve_auth(proxy, backends, [])
    response = await fetch(
        host,
        port,
        request_bytes("GET", "/api/open", headers={"x-internal": "secret", "x-tag": "client"}),
    )
    assert response.status == 200
    received = web.received[0]
    assert received.header("x-route-path") == "/api/open"
    assert received.header_values("x-tag") == ["client", "gw-GET"]
    assert received.header("x-internal") is None
    assert received.header("x-fails") is None
    assert response.header("x-served-for") == "example.com"
    assert response.header("x-count") == "9"
    async with httpx.AsyncClient(http1=False, http2=True) as client:
        over_h2 = await client.get(f"http://{host}:{port}/api/h2")
    assert over_h2.http_version == "HTTP/2"
    assert over_h2.status_code == 200
    assert over_h2.headers["x-served-for"].startswith(host)
    assert web.received[1].header("x-route-path") == "/api/h2"
    assert web.received[1].header_values("x-tag") == ["gw-GET"]


async def test_per_route_configs_without_the_filters_do_nothing(
    proxy: Proxy, backends: Backends
) -> None:
    host, port, web = await serve_auth(proxy, backends, with_filters=False)
    response = await fetch(host, port, request_bytes("POST", "/api/x", headers={"x-internal": "1"}))
    assert response.status == 200
    assert web.received[0].header("x-internal") == "1"
    assert response.header("x-served-for") is None


def test_a_configured_filter_config_is_rejected() -> None:
    listener = auth_listener()
    manager = r.http_manager("rc")
    listener.filter_chains[0].filters[0].typed_config.Unpack(manager)
    # Authorization has no fields yet: anything in it is from a newer agw.
    manager.http_filters[0].typed_config.value = authorization_pb2.AuthorizationRule(
        origin="x"
    ).SerializeToString()
    listener.filter_chains[0].filters[0].typed_config.Pack(manager)
    with pytest.raises(ConfigRejected, match="must be empty"):
        compile_config(XdsResources(listeners={"l": listener}, route_configs={"rc": routes([])}))


BASIC = "envoy.filters.http.basic_auth"
NOBODY = "-:{SHA}AAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"


def htpasswd(**passwords: str) -> str:
    lines = [
        f"{user}:{{SHA}}{base64.b64encode(hashlib.sha1(pw.encode()).digest()).decode()}"
        for user, pw in passwords.items()
    ]
    return "\n".join(lines) + "\n"


def basic_listener(disabled: bool = True) -> Any:
    listener = auth_listener()
    manager = r.http_manager("rc")
    listener.filter_chains[0].filters[0].typed_config.Unpack(manager)
    router = list(manager.http_filters)
    del manager.http_filters[:]
    basic = manager.http_filters.add(name=BASIC, disabled=disabled)
    basic.typed_config.Pack(basic_auth_pb2.BasicAuth(users=DataSource(inline_string=NOBODY)))
    manager.http_filters.extend(router)
    listener.filter_chains[0].filters[0].typed_config.Pack(manager)
    return listener


def basic_routes() -> Any:
    config = routes([Rule(action=Rule.DENY, expressions=["basicAuth.username == 'bob'"])])
    guarded = config.virtual_hosts[0].routes[0]
    users = DataSource(inline_string=htpasswd(alice="alice-pw", bob="bob-pw"))
    guarded.typed_per_filter_config[BASIC].Pack(basic_auth_pb2.BasicAuthPerRoute(users=users))
    transform = transformation_pb2.TransformationPerRoute(
        request=transformation_pb2.Transform(
            set=[Header(name="x-user", expression="basicAuth.username")]
        )
    )
    guarded.typed_per_filter_config[TRANSFORMATION].Pack(transform)
    return config


def credentials(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"authorization": f"Basic {token}"}


async def test_basic_authentication_and_the_user_in_cel(proxy: Proxy, backends: Backends) -> None:
    web = await backends("web")
    address = await serve_web(proxy, web, basic_listener(), basic_routes())
    for headers, status in [
        ({}, 401),
        (credentials("alice", "wrong"), 401),
        (credentials("mallory", "alice-pw"), 401),
        ({"authorization": "Basic !!"}, 401),
        (credentials("bob", "bob-pw"), 403),  # authenticated, then denied by CEL
        (credentials("alice", "alice-pw"), 200),
    ]:
        response = await fetch(*address, request_bytes("GET", "/api/x", headers=headers))
        assert response.status == status, headers
    assert len(web.received) == 1
    assert web.received[0].header("x-user") == "alice"
    unguarded = await fetch(*address, request_bytes("GET", "/else"))
    assert unguarded.status == 200


@pytest.mark.parametrize(
    ("listener", "route_users", "match"),
    [
        (lambda: basic_listener(disabled=False), None, "basic_auth for all routes"),
        (basic_listener, "alice:$apr1$x$y\n", r"line 1 is not user:<hash>"),
    ],
)
def test_basic_auth_configs_agw_cannot_honour_are_rejected(
    listener: Any, route_users: str | None, match: str
) -> None:
    config = basic_routes()
    if route_users is not None:
        per_route = basic_auth_pb2.BasicAuthPerRoute(users=DataSource(inline_string=route_users))
        config.virtual_hosts[0].routes[0].typed_per_filter_config[BASIC].Pack(per_route)
    with pytest.raises(ConfigRejected, match=match):
        compile_config(XdsResources(listeners={"l": listener()}, route_configs={"rc": config}))


API_KEY = "envoy.filters.http.api_key_auth"


def api_key_config(credentials: list[tuple[str, str]]) -> tuple[Any, Any]:
    listener = auth_listener()
    manager = r.http_manager("rc")
    listener.filter_chains[0].filters[0].typed_config.Unpack(manager)
    router = list(manager.http_filters)
    del manager.http_filters[:]
    manager.http_filters.add(name=API_KEY, disabled=True).typed_config.Pack(
        api_key_auth_pb2.ApiKeyAuth()
    )
    manager.http_filters.extend(router)
    listener.filter_chains[0].filters[0].typed_config.Pack(manager)
    config = routes([Rule(action=Rule.REQUIRE, expressions=["apiKey.client != 'blocked'"])])
    guarded = config.virtual_hosts[0].routes[0]
    per_route = api_key_auth_pb2.ApiKeyAuthPerRoute(
        credentials=[api_key_auth_pb2.Credential(key=k, client=c) for k, c in credentials],
        key_sources=[
            api_key_auth_pb2.KeySource(header="authorization"),
            api_key_auth_pb2.KeySource(query="api_key"),
        ],
    )
    guarded.typed_per_filter_config[API_KEY].Pack(per_route)
    return listener, config


@pytest.mark.parametrize(
    ("credentials", "target", "headers", "status"),
    [
        ([("k1", "ci")], "/api/x", {}, 401),
        ([("k1", "ci")], "/api/x", {"authorization": "Bearer nope"}, 401),
        ([("k1", "ci")], "/api/x", {"authorization": "Bearer k1"}, 200),
        ([("k1", "ci")], "/api/x", {"authorization": "k1"}, 200),
        ([("k1", "ci")], "/api/x?api_key=k1", {}, 200),
        ([("k2", "blocked")], "/api/x", {"authorization": "Bearer k2"}, 403),
        ([], "/api/x", {"authorization": "Bearer k1"}, 401),
    ],
)
async def test_api_key_authentication(
    proxy: Proxy,
    backends: Backends,
    credentials: list[tuple[str, str]],
    target: str,
    headers: dict[str, str],
    status: int,
) -> None:
    web = await backends("web")
    listener, config = api_key_config(credentials)
    address = await serve_web(proxy, web, listener, config)
    response = await fetch(*address, request_bytes("GET", target, headers=headers))
    assert response.status == status
    if status == 401:
        assert response.body == b"Client authentication failed."


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"authorization": "Bearer k1"}, 200),
        # The digest itself is not a key: what clients present is hashed first.
        ({"authorization": f"Bearer {hashlib.sha256(b'k1').hexdigest()}"}, 401),
        ({"authorization": "Bearer k2"}, 401),
    ],
)
async def test_api_keys_stored_as_sha256_digests(
    proxy: Proxy, backends: Backends, headers: dict[str, str], status: int
) -> None:
    web = await backends("web")
    listener, config = api_key_config([(hashlib.sha256(b"k1").hexdigest(), "ci")])
    options = auth_options_pb2.AuthOptionsPerRoute(
        api_key_hash=auth_options_pb2.AuthOptionsPerRoute.SHA256
    )
    config.virtual_hosts[0].routes[0].typed_per_filter_config[OPTIONS].Pack(options)
    address = await serve_web(proxy, web, listener, config)
    response = await fetch(*address, request_bytes("GET", "/api/x", headers=headers))
    assert response.status == status
