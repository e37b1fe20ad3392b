"""HTTP/2 with prior knowledge (h2c) to an upstream endpoint: one connection, many streams.

``Http2Upstream`` is the asyncio protocol around a client-side codec; each request is an
``UpstreamStream``, which offers the exchange the same interface as an HTTP/1.1
``UpstreamConnection`` (attach, write, reset, release, the parsed response head) plus what only
HTTP/2 has: a request sent as header fields, its end marked in-band, and trailers both ways.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, cast

from dataplane.http2.codec import CodecSettings, Http2Codec
from dataplane.http2.frames import ErrorCode
from dataplane.http2.output import DeferredOutput
from dataplane.http2.sending import BACKLOG_LIMIT
from dataplane.http2.stream import Field, StreamState
from dataplane.upstream.connection import ResponseSink
from dataplane.write_batch import WriteBatch

if TYPE_CHECKING:
    from dataplane.http2.pool import Http2Pool

# Response fields the proxy sets itself, or that HTTP/2 forbids.
_DROPPED = frozenset({b"date", b"connection", b"keep-alive", b"proxy-connection"})
_FORBIDDEN = frozenset({b"transfer-encoding", b"upgrade"})


class UpstreamStream(StreamState):
    """One request on an ``Http2Upstream``; the exchange's upstream."""

    # The body's end is marked in the stream (END_STREAM), never by closing the connection.
    chunked = True
    upgrade: bytes | None = None
    exchange: ResponseSink | None = None
    closed = False
    refused = False
    reuses = 0
    got_bytes = False
    keep_alive = True
    # Replaced for each response, never mutated in place.
    headers: list[Field] = []
    content_length: bytes | None = None
    server: bytes | None = None
    head_ends_stream = False

    def __init__(self, connection: Http2Upstream) -> None:
        self.connection = connection
        self.pool = connection.pool

    @property
    def last_active(self) -> float:
        return self.connection.last_active

    def attach(self, exchange: ResponseSink, skip_body: bool) -> None:
        self.exchange = exchange

    def unprocessed(self) -> bool:
        """The server refused the stream or its GOAWAY excluded it: no application saw it."""
        return self.refused

    def send_request(
        self,
        fields: list[Field],
        body: list[bytes] | tuple[()],
        end: bool,
        trailers: list[Field] | None,
    ) -> None:
        codec = self.connection.codec
        codec.send_headers(self, fields, end and not body and trailers is None)
        for index, piece in enumerate(body):
            last = index == len(body) - 1
            codec.send_data(self, piece, last and end and trailers is None)
        if end and trailers is not None:
            codec.send_headers(self, trailers, True)
        self._check_backlog()

    def write(self, data: bytes) -> None:
        """Request body bytes (never framed: HTTP/2 frames them)."""
        self.connection.codec.send_data(self, data, False)
        self._check_backlog()

    write_now = write

    def end_request(self, trailers: list[Field] | None) -> None:
        codec = self.connection.codec
        if trailers is not None:
            codec.send_headers(self, trailers, True)
        else:
            codec.send_data(self, b"", True)

    def _check_backlog(self) -> None:
        if self.backlog_size > BACKLOG_LIMIT and not self.stalled:
            self.stalled = True
            if self.exchange is not None:
                self.exchange.on_upstream_writable(False)

    def pause_reading(self, paused: bool) -> None:
        """The client cannot keep up: stop returning this stream's window to the server."""
        self.connection.codec.set_hold(self, paused)

    def release(self) -> None:
        """The exchange is done with the stream; a request still being sent is cancelled."""
        self.exchange = None
        if not self.local_closed or not self.remote_closed:
            self.connection.codec.reset_stream(self, ErrorCode.CANCEL)
        self.closed = True
        self.connection.stream_done()

    def reset(self) -> None:
        self.exchange = None
        self.connection.codec.reset_stream(self, ErrorCode.CANCEL)
        self.closed = True
        self.connection.stream_done()

    def response_head(self, headers: list[Field], end: bool) -> int:
        """Parse the response head; the status, or 0 when the head is malformed."""
        status = 0
        regular: list[Field] = []
        for field in headers:
            name = field[0]
            if name[:1] == b":":
                if name != b":status" or status or regular or not field[1].isdigit():
                    return 0
                status = int(field[1])
            elif name == b"content-length":
                self.content_length = field[1]
            elif name == b"server":
                self.server = field[1]
            elif name in _DROPPED:
                continue
            elif name in _FORBIDDEN:
                return 0
            else:
                regular.append(field)
        self.headers = regular
        self.head_ends_stream = end
        self.got_bytes = True
        return status


class Http2Upstream(asyncio.Protocol, DeferredOutput):
    """One h2c connection to an endpoint, shared by up to ``max_streams`` exchanges."""

    __slots__ = (
        "batch",
        "closed",
        "codec",
        "idle_since",
        "last_active",
        "loop",
        "max_streams",
        "out",
        "pool",
        "transport",
    )

    def __init__(
        self, pool: Http2Pool, batch: WriteBatch, settings: CodecSettings, max_streams: int
    ) -> None:
        self.pool = pool
        self.batch = batch
        self.max_streams = max_streams
        self.loop = pool.loop
        self.transport: asyncio.Transport | None = None
        self.out: list[bytes] = []
        self.codec = Http2Codec(self, self.write, client_side=True, settings=settings)
        self.closed = False
        self.last_active = pool.clock.now
        self.idle_since = pool.loop.time()

    def capacity(self) -> int:
        codec = self.codec
        if self.closed or codec.closed or codec.goaway_received:
            return 0
        return min(codec.remote_max_streams, self.max_streams) - codec.active

    def open_stream(self) -> UpstreamStream:
        """A new stream; its HEADERS must be sent before any later stream's (ids ascend)."""
        stream = UpstreamStream(self)
        self.codec.open_stream(stream, self.codec.settings.stream_window)
        return stream

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.transport.set_write_buffer_limits(high=self.pool.buffer_limit)
        self.codec.start()

    def data_received(self, data: bytes) -> None:
        self.last_active = self.pool.clock.now
        batch = self.batch
        owner = not batch.open
        batch.open = True
        try:
            self.codec.receive(data)
        finally:
            if owner:
                batch.open = False
                if batch.dirty:
                    batch.flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.pool.forget(self)
        for stream in list(self.codec.streams.values()):
            self._lose(cast(UpstreamStream, stream))
        self.codec.streams.clear()

    def pause_writing(self) -> None:
        self._each_exchange(False)

    def resume_writing(self) -> None:
        self._each_exchange(True)

    def _each_exchange(self, writable: bool) -> None:
        for stream in list(self.codec.streams.values()):
            exchange = cast(UpstreamStream, stream).exchange
            if exchange is not None:
                exchange.on_upstream_writable(writable)

    # Codec events

    def new_stream(self, stream_id: int) -> StreamState:
        raise AssertionError("a server cannot open streams to us")  # the codec never asks

    def on_headers(self, stream: StreamState, headers: list[Field] | None, end: bool) -> None:
        upstream = cast(UpstreamStream, stream)
        exchange = upstream.exchange
        if exchange is None:
            return
        status = upstream.response_head(headers, end) if headers is not None else 0
        if not status:
            self.codec.reset_stream(upstream, ErrorCode.PROTOCOL_ERROR)
            self._lose(upstream)
            return
        exchange.on_response_head(status, upstream)
        if end and upstream.exchange is exchange:
            exchange.on_response_end()

    def on_trailers(self, stream: StreamState, headers: list[Field]) -> None:
        exchange = cast(UpstreamStream, stream).exchange
        if exchange is not None:
            exchange.on_response_trailers(headers)
            exchange.on_response_end()

    def on_data(self, stream: StreamState, data: bytes, end: bool) -> None:
        exchange = cast(UpstreamStream, stream).exchange
        if exchange is None:
            return
        if data:
            exchange.on_response_body(data)
        if end and cast(UpstreamStream, stream).exchange is exchange:
            exchange.on_response_end()

    def on_reset(self, stream: StreamState, code: int) -> None:
        upstream = cast(UpstreamStream, stream)
        upstream.refused = code == ErrorCode.REFUSED_STREAM
        self._lose(upstream)
        self.stream_done()

    def on_drained(self, stream: StreamState) -> None:
        exchange = cast(UpstreamStream, stream).exchange
        if exchange is not None:
            exchange.on_upstream_writable(True)

    def on_goaway(self, last_stream_id: int, code: int) -> None:
        self.pool.unusable(self)
        if not self.codec.streams:
            self.close()

    def on_connection_error(self, code: int, message: str) -> None:
        self.close()

    def _lose(self, stream: UpstreamStream) -> None:
        exchange = stream.exchange
        stream.exchange = None
        stream.closed = True
        if exchange is not None:
            exchange.on_upstream_lost(stream)

    # Pool

    def stream_done(self) -> None:
        if self.closed:
            return
        codec = self.codec
        if not codec.active:
            self.idle_since = self.pool.loop.time()
            if codec.goaway_received or codec.goaway_sent or self.pool.retired:
                self.close()
                return
        self.pool.stream_freed(self)

    def close(self) -> None:
        self.closed = True
        transport = self.transport
        if transport is not None and not transport.is_closing():
            self.flush_writes()
            transport.close()
