"""Stateful sessions in the agw proxy (Envoy's stateful_session filter, cookie and header).

Covers the token format against tokens the real Envoy 1.40 wrote (cookie without and with a
TTL, header), cookie sessions (Set-Cookie with Path and HttpOnly, Max-Age when permanent;
requests with the cookie stay on their endpoint; an expired cookie, or one naming an endpoint
not in the cluster, is balanced and re-issued), header sessions, routes without a session,
and NACKs for what is not implemented (strict mode, a default session on the connection
manager). Leaves out ejected endpoints (the same path as a missing one) and HTTP/2 clients.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest
from envoy.config.core.v3 import extension_pb2
from envoy.extensions.filters.http.stateful_session.v3 import stateful_session_pb2
from envoy.extensions.http.stateful_session.cookie.v3 import cookie_pb2 as cookie_state_pb2
from envoy.extensions.http.stateful_session.header.v3 import header_pb2
from envoy.type.http.v3 import cookie_pb2

from dataplane.config.session import SessionConfig
from dataplane.errors import ConfigRejected
from dataplane.proxy import Proxy
from dataplane.session import _decode_cookie_message, requested_address, token_ops
from tests.dataplane import resources as r
from tests.dataplane.backend import EchoBackend
from tests.dataplane.client import Response, fetch, request_bytes
from tests.dataplane.conftest import PROXY_HOST, Backends

SESSION_FILTER = "envoy.filters.http.stateful_session"
COOKIE = SessionConfig(b"sess", cookie=True, path=b"/p")
# Written by Envoy 1.40 for endpoint 127.0.77.3:18081 (no TTL) and 127.0.77.2:18081 (TTL).
ENVOY_COOKIE = b"ChAxMjcuMC43Ny4zOjE4MDgx"
ENVOY_COOKIE_WITH_TTL = b"ChAxMjcuMC43Ny4yOjE4MDgxEIOpotgG"
ENVOY_HEADER = b"MTI3LjAuNzcuMjoxODA4MQ=="


def test_tokens_match_the_ones_envoy_writes() -> None:
    (op,) = token_ops(COOKIE, "127.0.77.3:18081", now=0)
    assert op[1:] == (b"set-cookie", b'sess="' + ENVOY_COOKIE + b'"; Path=/p; HttpOnly')
    cookie = [(b"cookie", b"a=1; sess=" + ENVOY_COOKIE)]
    assert requested_address(COOKIE, cookie, now=0) == "127.0.77.3:18081"
    address, expires = _decode_cookie_message(base64.b64decode(ENVOY_COOKIE_WITH_TTL)) or ("", 0)
    assert address == "127.0.77.2:18081" and expires > 1_700_000_000
    permanent = SessionConfig(b"sess", cookie=True, ttl=3600)
    (op,) = token_ops(permanent, address, now=expires - 3600)
    assert op[2] == b'sess="' + ENVOY_COOKIE_WITH_TTL + b'"; Max-Age=3600; Path=/; HttpOnly'
    header = SessionConfig(b"x-sess", cookie=False)
    assert token_ops(header, address, now=0)[0][1:] == (b"x-sess", ENVOY_HEADER)
    assert requested_address(header, [(b"x-sess", ENVOY_HEADER)], now=0) == address


def test_expired_and_malformed_tokens_name_no_endpoint() -> None:
    expires = _decode_cookie_message(base64.b64decode(ENVOY_COOKIE_WITH_TTL))
    assert expires is not None
    cookie = [(b"cookie", b'sess="' + ENVOY_COOKIE_WITH_TTL + b'"')]
    assert requested_address(COOKIE, cookie, now=expires[1] - 1) == "127.0.77.2:18081"
    assert requested_address(COOKIE, cookie, now=expires[1] + 1) is None
    for value in (b"%%%", b"", b"CgVhYmM"):  # not base64; empty; truncated message
        assert requested_address(COOKIE, [(b"cookie", b"sess=" + value)], now=0) is None


def session_route(state: Any, prefix: str = "/") -> Any:
    route = r.to_cluster("web", prefix)
    per_route = stateful_session_pb2.StatefulSessionPerRoute()
    per_route.stateful_session.session_state.CopyFrom(state)
    route.typed_per_filter_config[SESSION_FILTER].Pack(per_route)
    return route


def cookie_state(ttl: int = 0) -> Any:
    cookie = cookie_pb2.Cookie(name="sess", path="/")
    if ttl:
        cookie.ttl.FromSeconds(ttl)
    return extension_pb2.TypedExtensionConfig(
        name="envoy.http.stateful_session.cookie",
        typed_config=_packed(cookie_state_pb2.CookieBasedSessionState(cookie=cookie)),
    )


def header_state() -> Any:
    return extension_pb2.TypedExtensionConfig(
        name="envoy.http.stateful_session.header",
        typed_config=_packed(header_pb2.HeaderBasedSessionState(name="X-Sess")),
    )


def _packed(message: Any) -> Any:
    packed = extension_pb2.TypedExtensionConfig().typed_config
    packed.Pack(message)
    return packed


async def serve_sessions(
    proxy: Proxy, members: list[EchoBackend], *routes: Any, filter_config: Any = None
) -> tuple[str, int]:
    listener = r.listener("l", PROXY_HOST, 0, "rc")
    manager = r.http_manager("rc")
    router = list(manager.http_filters)
    del manager.http_filters[:]
    added = manager.http_filters.add(name=SESSION_FILTER)
    added.typed_config.Pack(filter_config or stateful_session_pb2.StatefulSession())
    manager.http_filters.extend(router)
    listener.filter_chains[0].filters[0].typed_config.Pack(manager)
    config = r.compiled(
        [listener],
        [r.route_config("rc", r.vhost("v", ["*"], *routes))],
        {"web": [(m.host, m.port) for m in members]},
    )
    await proxy.apply(config)
    address = proxy.address_of("l")
    assert address is not None
    return address


async def get(address: tuple[str, int], path: str = "/", **headers: str) -> Response:
    return await fetch(*address, request_bytes("GET", path, headers=headers))


def served_by(response: Response) -> str:
    return str(response.json()["backend"])


def cookie_of(response: Response) -> str:
    value = response.header("set-cookie")
    assert value is not None
    return value.split(";")[0]


async def test_cookie_session_sticks_to_its_endpoint(proxy: Proxy, backends: Backends) -> None:
    members = [await backends("a"), await backends("b")]
    address = await serve_sessions(proxy, members, session_route(cookie_state()))
    first = await get(address)
    assert first.status == 200
    set_cookie = first.header("set-cookie") or ""
    assert set_cookie.endswith("; Path=/; HttpOnly") and "Max-Age" not in set_cookie
    pinned = served_by(first)
    cookie = cookie_of(first)
    for _ in range(6):
        response = await get(address, Cookie=f"other=1; {cookie}")
        assert served_by(response) == pinned
        assert response.header("set-cookie") is None  # only sent when the endpoint changes
    # Without the cookie, the balancer alternates, and each answer carries a new cookie.
    assert {served_by(await get(address)) for _ in range(4)} == {"a", "b"}


async def test_a_cookie_for_an_endpoint_outside_the_cluster_is_replaced(
    proxy: Proxy, backends: Backends
) -> None:
    member = await backends("a")
    address = await serve_sessions(proxy, [member], session_route(cookie_state()))
    (op,) = token_ops(COOKIE, "127.0.20.99:1", now=0)
    stale = op[2].split(b";")[0].decode()
    response = await get(address, Cookie=stale)
    assert served_by(response) == "a"
    assert cookie_of(response) != stale


async def test_permanent_cookie_carries_max_age_and_expires(
    proxy: Proxy, backends: Backends
) -> None:
    members = [await backends("a"), await backends("b")]
    address = await serve_sessions(proxy, members, session_route(cookie_state(ttl=60)))
    first = await get(address)
    assert "; Max-Age=60; Path=/; HttpOnly" in (first.header("set-cookie") or "")
    pinned = served_by(first)
    token = cookie_of(first).partition("=")[2].strip('"')
    parsed = _decode_cookie_message(base64.b64decode(token))
    assert parsed is not None
    member = next(m for m in members if m.name == pinned)
    assert parsed[0] == f"{member.host}:{member.port}"
    (op,) = token_ops(SessionConfig(b"sess", cookie=True, ttl=60), parsed[0], now=0)
    expired = op[2].split(b";")[0].decode()  # expired in 1970
    answers = [await get(address, Cookie=expired) for _ in range(4)]
    assert all(answer.header("set-cookie") for answer in answers)
    assert {served_by(answer) for answer in answers} == {"a", "b"}


async def test_header_session(proxy: Proxy, backends: Backends) -> None:
    members = [await backends("a"), await backends("b")]
    address = await serve_sessions(
        proxy, members, session_route(header_state(), "/s"), r.to_cluster("web", "/plain")
    )
    first = await get(address, "/s")
    token = first.header("x-sess")
    assert token
    for _ in range(4):
        response = await get(address, "/s", **{"X-Sess": token})
        assert served_by(response) == served_by(first)
        assert response.header("x-sess") is None
    plain = await get(address, "/plain")
    assert plain.status == 200 and plain.header("x-sess") is None


async def test_unimplemented_session_settings_are_rejected(
    proxy: Proxy, backends: Backends
) -> None:
    member = await backends("a")
    strict = session_route(cookie_state())
    per_route = stateful_session_pb2.StatefulSessionPerRoute()
    strict.typed_per_filter_config[SESSION_FILTER].Unpack(per_route)
    per_route.stateful_session.strict = True
    strict.typed_per_filter_config[SESSION_FILTER].Pack(per_route)
    with pytest.raises(ConfigRejected, match="strict"):
        await serve_sessions(proxy, [member], strict)
    default = stateful_session_pb2.StatefulSession(session_state=cookie_state())
    with pytest.raises(ConfigRejected, match="session_state"):
        await serve_sessions(proxy, [member], session_route(cookie_state()), filter_config=default)
