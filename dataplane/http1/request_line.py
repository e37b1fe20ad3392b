"""Interpret a parsed HTTP/1.1 request head: the ``Exchange`` to run, or why it is refused.

Refusals follow Envoy: a missing Host, both Content-Length and Transfer-Encoding (request
smuggling), a Transfer-Encoding other than chunked, or a bad request target give 400; HTTP/1.0
gives 426 unless the listener accepts it; CONNECT gives 403.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from dataplane.config.listener import HostPortStrip, HttpSettings
from dataplane.http1.exchange import Exchange
from dataplane.http1.exchange_state import BodyKind, Downstream
from dataplane.http1.path import normalize_path
from dataplane.http1.response import Http1Exchange
from dataplane.request import RequestHead

if TYPE_CHECKING:
    from dataplane.chain import HttpChain
    from dataplane.http1.downstream import DownstreamConnection

# Headers the codec consumes instead of forwarding (hop-by-hop, or rewritten by the proxy).
SPECIAL_HEADERS = frozenset(
    {
        b"host", b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding",
        b"content-length", b"te", b"upgrade", b"expect", b"x-forwarded-for",
        b"x-forwarded-proto", b"x-request-id", b"http2-settings", b"trailer",
    }
)  # fmt: skip
_PLAIN_CONNECTION = frozenset({b"close", b"keep-alive", b"upgrade"})


class RequestRejected(Exception):
    """Raised from a parser callback; the connection answers ``status`` and closes."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


def interpret_head(conn: DownstreamConnection, chain: HttpChain | None) -> Exchange:
    parser = conn.parser
    special = conn.special
    url = conn.url
    host = special.get(b"host") if special is not None else None
    rejection = 0
    if url[:1] != b"/":
        url, absolute_host = _origin_form(url)
        host = absolute_host or host
        if not url:
            rejection = 400
            url = b"/"
    if b"?" in url:
        path, _, query = url.partition(b"?")
        query_or_none: bytes | None = query
    else:
        path, query_or_none = url, None
    host_header = host or b""
    settings = chain.settings if chain is not None else None
    if settings is not None and settings.rewrites_request_head:
        host_header, path, url = rewrite_head(conn, settings, host_header, path, url)
    head = RequestHead(
        parser.get_method(),
        path,
        query_or_none,
        host_header.lower(),
        chain.scheme if chain is not None else b"http",
        conn.headers,
    )
    exchange = Http1Exchange(conn, head, url, host_header)
    if not parser.should_keep_alive():
        exchange.keep_alive = False
    if parser.get_http_version() != "1.1":
        exchange.version_10 = True
        if settings is None or not settings.accept_http_10:
            rejection = rejection or 426
    elif not host:
        rejection = rejection or 400
    if special is not None and (host is None or len(special) > 1):
        rejection = _apply_special(exchange, special, parser.should_upgrade()) or rejection
    if head.method == b"CONNECT":
        rejection = rejection or 403
    exchange.started_at = time.time()  # access log, and the latency histogram
    if rejection:
        exchange.rejection = rejection
    return exchange


def rewrite_head(
    conn: Downstream, settings: HttpSettings, host: bytes, path: bytes, url: bytes
) -> tuple[bytes, bytes, bytes]:
    """Strip the host's port and normalize the path, as the connection manager asks."""
    if settings.strip_host_port is not HostPortStrip.NONE and b":" in host:
        host = _strip_port(host, settings.strip_host_port, conn)
    if settings.normalize_path or settings.merge_slashes:
        normalized = normalize_path(path, settings.merge_slashes)
        if normalized != path:
            query = url.partition(b"?")[1:]
            path = normalized
            url = path + b"".join(query)
    return host, path, url


def _apply_special(exchange: Exchange, special: dict[bytes, bytes], upgrade: bool) -> int:
    transfer_encoding = special.get(b"transfer-encoding")
    content_length = special.get(b"content-length")
    if transfer_encoding is not None:
        if content_length is not None:
            return 400
        if transfer_encoding.strip().lower() != b"chunked":
            return 400
        exchange.body_kind = BodyKind.CHUNKED
    elif content_length is not None:
        content_length = content_length.strip()
        if not content_length.isdigit():
            return 400
        exchange.content_length = content_length
        exchange.body_kind = BodyKind.LENGTH
    expect = special.get(b"expect")
    if expect is not None and expect.lower() == b"100-continue":
        exchange.expect_continue = exchange.body_kind is not BodyKind.NONE
    if upgrade:
        value = special.get(b"upgrade")
        if value is not None and value.lower() != b"h2c":
            exchange.upgrade = value
            exchange.keep_alive = False
    exchange.xff = special.get(b"x-forwarded-for")
    exchange.xfp = special.get(b"x-forwarded-proto")
    exchange.request_id = special.get(b"x-request-id")
    te = special.get(b"te")
    exchange.te_trailers = te is not None and b"trailers" in te.lower()
    connection = special.get(b"connection")
    if connection is not None and connection.lower() not in _PLAIN_CONNECTION:
        _drop_connection_tokens(exchange, connection)
    return 0


def _drop_connection_tokens(exchange: Exchange, connection: bytes) -> None:
    """Headers named in Connection are hop-by-hop too."""
    tokens = {t.strip().lower() for t in connection.split(b",")} - _PLAIN_CONNECTION
    if tokens:
        headers = exchange.head.headers
        headers[:] = [h for h in headers if h[0] not in tokens]


def _origin_form(url: bytes) -> tuple[bytes, bytes | None]:
    """Absolute-form targets become origin-form plus the authority."""
    lowered = url[:8].lower()
    for prefix in (b"http://", b"https://"):
        if lowered.startswith(prefix):
            rest = url[len(prefix) :]
            slash = rest.find(b"/")
            if slash < 0:
                question = rest.find(b"?")
                if question < 0:
                    return b"/", rest
                return b"/" + rest[question:], rest[:question]
            return rest[slash:], rest[:slash]
    return b"", None


def _strip_port(host: bytes, mode: HostPortStrip, conn: Downstream) -> bytes:
    if host.startswith(b"["):
        end = host.rfind(b"]:")
        end = end + 1 if end >= 0 else -1
    else:
        end = host.rfind(b":")
    if end < 0:
        return host
    if mode is HostPortStrip.MATCHING:
        sockname = conn.transport.get_extra_info("sockname") if conn.transport else None
        if not sockname or host[end + 1 :] != str(sockname[1]).encode():
            return host
    return host[:end]
