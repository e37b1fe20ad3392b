"""Session persistence (GEP-1619) as Envoy's stateful-session filter.

One filter per connection manager with no session state of its own: it does nothing on a
route unless the route's ``StatefulSessionPerRoute`` names a cookie or header session state.
Envoy keeps the upstream address in the token, so a session survives weight changes and
stays on its endpoint while the endpoint is in the cluster and healthy (``strict`` is off:
otherwise the request is balanced and a new token issued)."""

from __future__ import annotations

from envoy.config.core.v3 import extension_pb2
from envoy.extensions.filters.http.stateful_session.v3 import stateful_session_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from envoy.extensions.http.stateful_session.cookie.v3 import cookie_pb2 as cookie_state_pb2
from envoy.extensions.http.stateful_session.header.v3 import header_pb2 as header_state_pb2
from envoy.type.http.v3 import cookie_pb2
from google.protobuf.message import Message

from translator.ir import CookieSession, SessionPersistence
from translator.xds.extensions import (
    COOKIE_SESSION_STATE,
    HEADER_SESSION_STATE,
    STATEFUL_SESSION_FILTER,
    pack,
)


def build_stateful_session_filter() -> Message:
    return hcm_pb2.HttpFilter(
        name=STATEFUL_SESSION_FILTER, typed_config=pack(stateful_session_pb2.StatefulSession())
    )


def build_session_per_route(session: SessionPersistence) -> Message:
    """The packed ``StatefulSessionPerRoute`` that turns the filter on for one route."""
    state: Message
    if isinstance(session, CookieSession):
        cookie = cookie_pb2.Cookie(name=session.name, path=session.path)
        if session.ttl_seconds is not None:
            cookie.ttl.FromSeconds(session.ttl_seconds)
        state = extension_pb2.TypedExtensionConfig(
            name=COOKIE_SESSION_STATE,
            typed_config=pack(cookie_state_pb2.CookieBasedSessionState(cookie=cookie)),
        )
    else:
        state = extension_pb2.TypedExtensionConfig(
            name=HEADER_SESSION_STATE,
            typed_config=pack(header_state_pb2.HeaderBasedSessionState(name=session.name)),
        )
    return pack(
        stateful_session_pb2.StatefulSessionPerRoute(
            stateful_session=stateful_session_pb2.StatefulSession(session_state=state)
        )
    )
