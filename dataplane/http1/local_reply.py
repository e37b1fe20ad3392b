"""Responses the proxy writes itself, worded and framed as Envoy's local replies."""

from __future__ import annotations

from dataplane.config.header_mutation import HeaderOps, apply_ops
from dataplane.config.route_table import RedirectAction, RouteEntry
from dataplane.http1.wire import CRLF, DATE, encode_headers, status_line
from dataplane.request import RequestHead

NO_HEALTHY_UPSTREAM = b"no healthy upstream"
CONNECT_FAILURE = (
    b"upstream connect error or disconnect/reset before headers. reset reason: connection failure"
)
UPSTREAM_RESET = (
    b"upstream connect error or disconnect/reset before headers. "
    b"reset reason: connection termination"
)
OVERFLOW = b"upstream connect error or disconnect/reset before headers. reset reason: overflow"
UPSTREAM_TIMEOUT = b"upstream request timeout"
FAULT_ABORT = b"fault filter abort"
_DEFAULT_PORTS = {b"http": b":80", b"https": b":443"}


def encode_local_reply(
    status: int,
    body: bytes,
    server: bytes,
    *,
    close: bool,
    extra: list[tuple[bytes, bytes]] | None = None,
    ops: HeaderOps = (),
    head_only: bool = False,
) -> bytes:
    headers = list(extra) if extra else []
    if body:
        headers.append((b"content-type", b"text/plain"))
    if ops:
        apply_ops(ops, headers)
    parts = [
        status_line(status),
        b"content-length: %d\r\n" % len(body),
        encode_headers(headers),
        DATE.line,
        b"server: " + server + CRLF,
    ]
    if close:
        parts.append(b"connection: close\r\n")
    parts.append(CRLF)
    if body and not head_only:
        parts.append(body)
    return b"".join(parts)


def redirect_location(
    redirect: RedirectAction, route: RouteEntry, request: RequestHead, host_header: bytes
) -> bytes:
    """Envoy's ``newUri``: scheme, host and port, then path and query.

    The request's port survives only when the scheme is unchanged; the port is left out when
    it is the scheme's default.
    """
    scheme = redirect.scheme or request.scheme
    port = redirect.port
    if redirect.host is not None:
        host = redirect.host
    else:
        host = _request_host(host_header, scheme, port, request.scheme)
    if port and _DEFAULT_PORTS.get(scheme) == port:
        port = b""
    path, query = request.path, request.query
    if redirect.path is not None:
        path, question, new_query = redirect.path.partition(b"?")
        if question:
            query = new_query or None
    elif redirect.prefix_rewrite is not None:
        path = route.rewrite_path(path, redirect.prefix_rewrite)
    if redirect.strip_query:
        query = None
    location = scheme + b"://" + host + port + path
    return location if query is None else location + b"?" + query


def _request_host(host: bytes, new_scheme: bytes, new_port: bytes, old_scheme: bytes) -> bytes:
    if host.startswith(b"["):
        end = host.rfind(b"]:")
        end = end + 1 if end >= 0 else -1
    else:
        end = host.rfind(b":")
    if end < 0:
        return host
    request_port = host[end:]
    remove = bool(new_port)
    if new_scheme != old_scheme:
        remove = remove or _DEFAULT_PORTS.get(old_scheme) == request_port
    return host[:end] if remove else host
