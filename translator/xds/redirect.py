"""Redirect routes: scheme, host, port, path and status of the Location Envoy answers with.

The connection manager strips the port from Host before routing (``strip_any_host_port``), so
Envoy's Location never carries the request's port by itself. The IR's "keep the port the
request came to" therefore becomes an explicit ``port_redirect`` of the listener's port, and the
well-known port of the final scheme (80 for http, 443 for https) is left out of Location, which
Envoy would otherwise print (it writes ``https://host:443/`` for ``port_redirect: 443``).
Envoy 1.40 keeps the request's query string on both path and prefix redirects.
"""

from __future__ import annotations

from envoy.config.route.v3 import route_components_pb2 as route_pb2
from google.protobuf.message import Message

from translator.ir import PathMatch, RedirectAction
from translator.xds.errors import UnsupportedRedirectStatus
from translator.xds.path_rewrite import apply_to_redirect

_STATUS_CODES = {
    301: route_pb2.RedirectAction.MOVED_PERMANENTLY,
    302: route_pb2.RedirectAction.FOUND,
    303: route_pb2.RedirectAction.SEE_OTHER,
    307: route_pb2.RedirectAction.TEMPORARY_REDIRECT,
    308: route_pb2.RedirectAction.PERMANENT_REDIRECT,
}

_WELL_KNOWN_PORTS = {"http": 80, "https": 443}


def build_redirect(
    redirect: RedirectAction, match: PathMatch, *, listener_port: int, listener_scheme: str
) -> Message:
    """``listener_port`` and ``listener_scheme`` describe where the request arrived."""
    if redirect.status_code not in _STATUS_CODES:
        raise UnsupportedRedirectStatus(f"redirect status {redirect.status_code}")
    built = route_pb2.RedirectAction(response_code=_STATUS_CODES[redirect.status_code])
    if redirect.scheme is not None:
        built.scheme_redirect = redirect.scheme
    if redirect.hostname is not None:
        built.host_redirect = redirect.hostname
    port = location_port(redirect, listener_port=listener_port, listener_scheme=listener_scheme)
    if port is not None:
        built.port_redirect = port
    if redirect.path is not None:
        apply_to_redirect(built, redirect.path, match)
    return built


def location_port(
    redirect: RedirectAction, *, listener_port: int, listener_scheme: str
) -> int | None:
    """The port Location shows, or None to leave it out."""
    port = listener_port if redirect.port is None else redirect.port
    scheme = (redirect.scheme or listener_scheme).lower()
    if port == 0 or _WELL_KNOWN_PORTS.get(scheme) == port:
        return None
    return port
