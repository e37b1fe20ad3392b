"""Compile Envoy's stateful-session configuration (``StatefulSessionPerRoute`` with a cookie
or header session state) into a ``SessionConfig`` a route carries.

The connection manager's ``StatefulSession`` filter must have no session state of its own:
sessions are turned on per route, which is all agw's control plane emits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from envoy.extensions.filters.http.stateful_session.v3 import stateful_session_pb2
from envoy.extensions.http.stateful_session.cookie.v3 import cookie_pb2
from envoy.extensions.http.stateful_session.header.v3 import header_pb2

from dataplane.config.support import check_fields
from dataplane.config.values import seconds
from dataplane.errors import InvalidConfig, UnsupportedField, UnsupportedValue

STATEFUL_SESSION_FILTER = "envoy.filters.http.stateful_session"
COOKIE_STATE = "envoy.http.stateful_session.cookie"
HEADER_STATE = "envoy.http.stateful_session.header"


@dataclass(frozen=True, slots=True)
class SessionConfig:
    """``cookie`` False means a header session. Names are lower-case for headers, as written
    for cookies. ``ttl`` (seconds) makes a cookie permanent and bounds the session."""

    name: bytes
    cookie: bool
    path: bytes = b"/"
    ttl: int = 0


def check_session_filter(typed_config: Any) -> None:
    """The connection manager's filter: accepted when it configures no default session."""
    session = stateful_session_pb2.StatefulSession()
    if not typed_config.Unpack(session):
        raise UnsupportedValue("HttpFilter.typed_config", typed_config.type_url)
    if session.HasField("session_state"):
        raise UnsupportedField("StatefulSession.session_state (only per route)")
    check_fields(session, "StatefulSession")


def compile_route_session(packed: Any, where: str) -> SessionConfig | None:
    """A route's ``StatefulSessionPerRoute``; None when it turns sessions off."""
    per_route = stateful_session_pb2.StatefulSessionPerRoute()
    if not packed.Unpack(per_route):
        raise UnsupportedValue(f"{where}.type_url", packed.type_url)
    check_fields(per_route, "StatefulSessionPerRoute", where)
    if per_route.disabled or not per_route.HasField("stateful_session"):
        return None
    session = per_route.stateful_session
    if session.strict:
        raise UnsupportedField("StatefulSession.strict", where)
    state = session.session_state
    if state.name == COOKIE_STATE or state.typed_config.Is(
        cookie_pb2.CookieBasedSessionState.DESCRIPTOR
    ):
        cookie_state = cookie_pb2.CookieBasedSessionState()
        state.typed_config.Unpack(cookie_state)
        check_fields(cookie_state, "CookieBasedSessionState", where)
        cookie = cookie_state.cookie
        if not cookie.name:
            raise InvalidConfig(f"{where}: the session cookie needs a name")
        return SessionConfig(
            name=cookie.name.encode("latin-1"),
            cookie=True,
            path=(cookie.path or "/").encode("latin-1"),
            ttl=round(seconds(cookie.ttl)) if cookie.HasField("ttl") else 0,
        )
    header_state = header_pb2.HeaderBasedSessionState()
    if not state.typed_config.Unpack(header_state):
        raise UnsupportedValue(f"{where}.session_state", state.name)
    check_fields(header_state, "HeaderBasedSessionState", where)
    if not header_state.name:
        raise InvalidConfig(f"{where}: the session header needs a name")
    return SessionConfig(name=header_state.name.lower().encode("latin-1"), cookie=False)
