"""An exchange whose client speaks HTTP/1.1: the response as status line, headers and a body
framed by length, chunks or the connection's end; after a 101, a raw tunnel both ways.

Routing, upstream attempts, retries, timeouts and mirrors are ``Exchange``'s.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dataplane.config.header_mutation import HeaderOps
from dataplane.config.listener import ServerHeader
from dataplane.http1 import local_reply as replies
from dataplane.http1 import recovery
from dataplane.http1.exchange import Exchange
from dataplane.http1.exchange_state import Fields, Framing
from dataplane.http1.wire import _STATUS_LINES, CHUNKED_END, CRLF, DATE, chunk, status_line
from dataplane.upstream.connection import UpstreamConnection

if TYPE_CHECKING:
    from dataplane.http2.upstream import UpstreamStream


class Http1Exchange(Exchange):
    @property
    def protocol_name(self) -> str:
        return "HTTP/1.0" if self.version_10 else "HTTP/1.1"

    def on_response_head(self, status: int, response: UpstreamConnection | UpstreamStream) -> None:
        response.pool.record_status(status)
        # Only a retry policy arms a per-try timer, so without one there is nothing to check.
        if self.retry is not None and self._retried(status, response):
            return
        self.status = status
        chain = self.chain
        assert chain is not None and self.backend is not None
        headers = self.upstream_response_headers(status, response.headers)
        if headers is None:
            return  # answered with the transformation's body
        parts = [_STATUS_LINES.get(status) or status_line(status)]
        parts += [name + b": " + value + CRLF for name, value in headers]
        server_mode = chain.settings.server_header
        if server_mode is ServerHeader.OVERWRITE or response.server is None:
            if server_mode is not ServerHeader.PASS_THROUGH:
                parts.append(chain.server_line)
        else:
            parts.append(b"server: " + response.server + CRLF)
        parts.append(DATE.line)
        self._frame_response(status, response, parts)
        if not self.keep_alive or self.conn.draining:
            self.keep_alive = False
            parts.append(b"connection: close\r\n")
        parts.append(CRLF)
        self.response_started = True
        self.conn.write(b"".join(parts))
        if self.framing is Framing.TUNNEL:
            self._open_tunnel()

    def _frame_response(
        self, status: int, response: UpstreamConnection | UpstreamStream, parts: list[bytes]
    ) -> None:
        content_length = response.content_length
        if status == 101:
            upgrade = response.upgrade or b"websocket"
            parts.append(b"connection: upgrade\r\nupgrade: " + upgrade + CRLF)
            self.framing = Framing.TUNNEL
        elif status == 204 or status == 304 or self.head.method == b"HEAD":
            if content_length is not None and status != 204:
                parts.append(b"content-length: " + content_length + CRLF)
            self.framing = Framing.NONE
        elif content_length is not None:
            parts.append(b"content-length: " + content_length + CRLF)
            self.framing = Framing.LENGTH
        else:
            self.until_close = not response.chunked
            if self.version_10:
                self.framing = Framing.CLOSE
                self.keep_alive = False
            else:
                parts.append(b"transfer-encoding: chunked\r\n")
                self.framing = Framing.CHUNKED

    def on_response_body(self, data: bytes) -> None:
        framing = self.framing
        if framing is Framing.LENGTH:
            self.conn.write(data)
        elif framing is Framing.CHUNKED:
            self.conn.write(chunk(data))
        elif framing is not Framing.NONE:
            self.conn.write(data)

    def on_response_trailers(self, trailers: Fields) -> None:
        """HTTP/1.1 clients get no trailers (Envoy's default)."""

    def on_response_end(self) -> None:
        framing = self.framing
        if framing is Framing.TUNNEL:
            return
        if framing is Framing.CHUNKED:
            self.conn.write(CHUNKED_END)
        upstream = self.upstream
        if type(upstream) is UpstreamConnection:
            # The common case inlined: this runs once per request.
            self.upstream = None
            if not self.done:
                upstream.keep_alive = False
            upstream.pool.release(upstream)
        else:
            self._release_upstream()
        self._finish(not self.done or not self.keep_alive)

    def end_at_upstream_close(self) -> None:
        """The upstream closed a response delimited by its connection's end: that is its end."""
        if self.framing is Framing.CHUNKED:
            self.conn.write(CHUNKED_END)
        self._finish(not self.keep_alive)

    # WebSocket and other upgrades: raw bytes both ways after a 101

    def _open_tunnel(self) -> None:
        recovery.cancel_timers(self)
        self.conn.start_tunnel(self)
        upstream = self.upstream
        if upstream is not None and self.early_tunnel:
            upstream.write(b"".join(self.early_tunnel))
        self.early_tunnel = None

    def on_tunnel_data(self, data: bytes) -> None:
        self.conn.write(data)

    def on_client_tunnel_data(self, data: bytes) -> None:
        if self.framing is Framing.TUNNEL and self.upstream is not None:
            self.upstream.write(data)
        elif self.early_tunnel is None:
            self.early_tunnel = [data]
        else:
            self.early_tunnel.append(data)

    def _write_local_reply(
        self,
        status: int,
        body: bytes,
        extra: list[tuple[bytes, bytes]] | None,
        ops: HeaderOps,
        close: bool,
    ) -> None:
        close = (
            close
            or not self.keep_alive
            or self.conn.draining
            or (not self.done and self.expect_continue)
        )
        server = self.chain.settings.server_name if self.chain is not None else b"agw"
        self.status = status
        self.response_started = True
        reply = replies.encode_local_reply(
            status, body, server, close=close, extra=extra, ops=ops, head_only=self.is_head
        )
        self.conn.write(reply)
        if self.done or close:
            self._finish(close)
        else:
            self.discarding = True
