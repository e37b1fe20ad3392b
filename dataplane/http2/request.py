"""Turn a request's header fields into an ``Http2Exchange``, or refuse them as malformed.

One pass over the fields checks what RFC 9113 section 8 requires of a request (pseudo-headers
first, once each, no connection-specific fields, ``te`` only ``trailers``) and pulls out what
the proxy consumes, as the HTTP/1.1 head interpreter does. Malformed requests get None (the
stream is reset); requests that are well-formed but unacceptable get a rejection status.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from dataplane.http1.exchange_state import BodyKind
from dataplane.http1.request_line import rewrite_head
from dataplane.http2.exchange import Http2Exchange
from dataplane.request import RequestHead

if TYPE_CHECKING:
    from dataplane.chain import HttpChain
    from dataplane.http2.downstream import Http2Stream

Fields = list[tuple[bytes, bytes]]

_CONNECTION_SPECIFIC = frozenset(
    {b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"upgrade"}
)
_PSEUDO = frozenset({b":method", b":path", b":authority", b":scheme"})
# Fields the proxy consumes rather than forwards as they are.
_SPECIAL = _CONNECTION_SPECIFIC | {
    b"host", b"content-length", b"te", b"x-forwarded-for", b"x-forwarded-proto",
    b"x-request-id", b"cookie", b"expect", b"http2-settings",
}  # fmt: skip


def interpret_request(
    stream: Http2Stream, headers: Fields | None, chain: HttpChain | None, end: bool
) -> Http2Exchange | None:
    if headers is None:
        return _rejected(stream, chain, 431)
    split = _split(headers)
    if split is None:
        return None
    pseudo, regular, special = split
    method = pseudo.get(b":method")
    path = pseudo.get(b":path")
    if method is None:
        return None
    if method == b"CONNECT":
        return _rejected(stream, chain, 403)
    if b":scheme" not in pseudo or not path:
        return None
    host = pseudo.get(b":authority") or (special.get(b"host") if special is not None else None)
    exchange = _exchange(stream, chain, method, path, host or b"", regular)
    if chain is not None and len(headers) > chain.settings.max_headers_count:
        exchange.rejection = 431
    elif not host or path[:1] != b"/":
        exchange.rejection = 400
    if special is None:
        if not end:
            exchange.body_kind = BodyKind.CHUNKED
        return exchange
    if not end:
        content_length = special.get(b"content-length")
        if content_length is None:
            exchange.body_kind = BodyKind.CHUNKED
        elif content_length.isdigit():
            exchange.body_kind = BodyKind.LENGTH
            exchange.content_length = content_length
            stream.body_left = int(content_length)
        else:
            return None
    if b"cookie" in special:
        # Cookies may arrive split into several fields; HTTP/1.1 allows only one line.
        regular.append((b"cookie", special[b"cookie"]))
    exchange.xff = special.get(b"x-forwarded-for")
    exchange.xfp = special.get(b"x-forwarded-proto")
    exchange.request_id = special.get(b"x-request-id")
    exchange.te_trailers = b"te" in special
    return exchange


def _split(
    headers: Fields,
) -> tuple[dict[bytes, bytes], Fields, dict[bytes, bytes] | None] | None:
    """Pseudo-headers, forwarded fields and consumed fields; None when malformed."""
    pseudo: dict[bytes, bytes] = {}
    regular: Fields = []
    special: dict[bytes, bytes] | None = None
    for field in headers:
        name = field[0]
        if name[0] == 58:  # b":"
            if regular or special is not None or name in pseudo or name not in _PSEUDO:
                return None
            pseudo[name] = field[1]
        elif name in _SPECIAL:
            if special is None:
                special = {}
            if not _take_special(special, name, field[1]):
                return None
        else:
            regular.append(field)
    return pseudo, regular, special


def _take_special(special: dict[bytes, bytes], name: bytes, value: bytes) -> bool:
    """Record a consumed field; False when it makes the request malformed."""
    if name in _CONNECTION_SPECIFIC:
        return False
    if name == b"te" and value.lower() != b"trailers":
        return False
    previous = special.get(name)
    if previous is None:
        special[name] = value
    elif name == b"cookie":
        special[name] = previous + b"; " + value
    elif name == b"content-length":
        return previous == value
    else:
        special[name] = previous + b"," + value
    return True


def _exchange(
    stream: Http2Stream,
    chain: HttpChain | None,
    method: bytes,
    path: bytes,
    host: bytes,
    regular: Fields,
) -> Http2Exchange:
    target = path
    host_header = host
    query_or_none: bytes | None = None
    if b"?" in path:
        path, _, query_or_none = path.partition(b"?")
    settings = chain.settings if chain is not None else None
    if settings is not None and settings.rewrites_request_head:
        host_header, path, target = rewrite_head(stream, settings, host_header, path, target)
    head = RequestHead(
        method,
        path,
        query_or_none,
        host_header.lower(),
        chain.scheme if chain is not None else b"http",
        regular,
    )
    exchange = Http2Exchange(stream, head, target, host_header)
    exchange.started_at = time.time()  # access log, and the latency histogram
    return exchange


def _rejected(stream: Http2Stream, chain: HttpChain | None, status: int) -> Http2Exchange:
    exchange = _exchange(stream, chain, b"GET", b"/", b"", [])
    exchange.rejection = status
    return exchange
