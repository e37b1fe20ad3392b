"""An exchange whose client speaks HTTP/2: the response goes out as frames on its stream.

Routing, upstream attempts, retries, timeouts and mirrors are ``Exchange``'s; only writing the
response differs. A response whose upstream head ended the stream (gRPC's trailers-only
answers, HEAD, 204, 304) ends it here too, in the same HEADERS frame; trailers from an HTTP/2
upstream are passed on.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import TYPE_CHECKING

from dataplane.config.header_mutation import HeaderOps, apply_ops
from dataplane.config.listener import ServerHeader
from dataplane.http1 import local_reply as replies
from dataplane.http1.exchange import Exchange
from dataplane.http1.exchange_state import Fields
from dataplane.http1.wire import DATE
from dataplane.http2.sending import BACKLOG_LIMIT

if TYPE_CHECKING:
    from dataplane.http2.downstream import Http2Stream
    from dataplane.http2.upstream import UpstreamStream
    from dataplane.upstream.connection import UpstreamConnection

_STATUS_FIELDS: dict[int, tuple[bytes, bytes]] = {
    status.value: (b":status", b"%d" % status.value) for status in HTTPStatus
}


def status_field(status: int) -> tuple[bytes, bytes]:
    return _STATUS_FIELDS.get(status) or (b":status", b"%d" % status)


class Http2Exchange(Exchange):
    conn: Http2Stream
    # END_STREAM went out (or the stream was reset): nothing more is sent for the response.
    stream_ended = False
    # Response body bytes still due by content-length (-1: unknown); the DATA frame that
    # completes it carries END_STREAM, sparing an empty frame.
    response_left = -1

    @property
    def protocol_name(self) -> str:
        return "HTTP/2"

    def on_response_head(self, status: int, response: UpstreamConnection | UpstreamStream) -> None:
        response.pool.record_status(status)
        if self.retry is not None and self._retried(status, response):
            return
        if status == 101:
            # The upstream switched protocols unasked: nothing HTTP/2 can carry.
            self.local_reply(502, replies.UPSTREAM_RESET)
            return
        self.status = status
        chain = self.chain
        assert chain is not None and self.backend is not None
        fields = [status_field(status)]
        headers = self.upstream_response_headers(status, response.headers)
        if headers is None:
            return  # answered with the transformation's body
        fields += headers
        server_mode = chain.settings.server_header
        if server_mode is ServerHeader.OVERWRITE or response.server is None:
            if server_mode is not ServerHeader.PASS_THROUGH:
                fields.append(chain.server_field)
        else:
            fields.append((b"server", response.server))
        fields.append(DATE.field)
        content_length = response.content_length
        if content_length is not None:
            if status != 204:
                fields.append((b"content-length", content_length))
                if content_length.isdigit():
                    self.response_left = int(content_length)
        elif not response.chunked:
            # An HTTP/1.1 body delimited by the upstream closing its connection.
            self.until_close = True
        end = response.head_ends_stream or status == 204 or status == 304 or self.is_head
        self.response_started = True
        stream = self.conn
        stream.codec.send_headers(stream, fields, end)
        if end:
            self.stream_ended = True

    def on_response_body(self, data: bytes) -> None:
        if self.stream_ended:
            return
        stream = self.conn
        left = self.response_left
        if left > 0:
            left -= len(data)
            self.response_left = left
            if not left:
                self.stream_ended = True
                stream.codec.send_data(stream, data, True)
                return
        stream.codec.send_data(stream, data, False)
        if stream.backlog_size > BACKLOG_LIMIT and not stream.stalled:
            stream.stalled = True
            self.on_downstream_writable(False)

    def on_response_trailers(self, trailers: Fields) -> None:
        if not self.stream_ended:
            self.stream_ended = True
            stream = self.conn
            stream.codec.send_headers(stream, trailers, True)

    def on_response_end(self) -> None:
        if not self.stream_ended:
            self.stream_ended = True
            stream = self.conn
            stream.codec.send_data(stream, b"", True)
        self._release_upstream()
        self._finish(False)

    def end_at_upstream_close(self) -> None:
        if not self.stream_ended:
            self.stream_ended = True
            stream = self.conn
            stream.codec.send_data(stream, b"", True)
        self._finish(False)

    def on_tunnel_data(self, data: bytes) -> None:
        """Unreachable: a 101 from the upstream is answered 502 and the upstream dropped."""

    def on_client_tunnel_data(self, data: bytes) -> None:
        """Unreachable: HTTP/2 requests carry no upgrade (extended CONNECT is not served)."""

    def _write_local_reply(
        self,
        status: int,
        body: bytes,
        extra: list[tuple[bytes, bytes]] | None,
        ops: HeaderOps,
        close: bool,
    ) -> None:
        server = self.chain.settings.server_name if self.chain is not None else b"agw"
        self.status = status
        self.response_started = True
        headers = list(extra) if extra else []
        if body:
            headers.append((b"content-type", b"text/plain"))
        if ops:
            apply_ops(ops, headers)
        fields = [
            status_field(status),
            (b"content-length", b"%d" % len(body)),
            *headers,
            DATE.field,
            (b"server", server),
        ]
        bodyless = not body or self.is_head
        stream = self.conn
        stream.codec.send_headers(stream, fields, bodyless)
        if not bodyless:
            stream.codec.send_data(stream, body, True)
        self.stream_ended = True
        # A request still arriving is cut short by the stream (RST_STREAM NO_ERROR).
        self._finish(False)
