"""The client side of HTTP/2: an ``asyncio.Protocol`` around a server-side codec.

Each request stream is an ``Http2Stream``, which is also what its exchange sees as its client
(``Downstream``): pausing the request body holds the stream's flow-control window, aborting
resets only that stream. Frames leave once per event-loop iteration (``DeferredOutput``).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, cast

from dataplane.clock import Clock
from dataplane.config.listener import HttpSettings
from dataplane.http2.codec import CodecSettings, Http2Codec
from dataplane.http2.frames import ErrorCode
from dataplane.http2.keepalive import KeepaliveAction, PingKeepalive, new_keepalive, ping_frame
from dataplane.http2.output import DeferredOutput
from dataplane.http2.request import interpret_request
from dataplane.http2.stream import Field, StreamState
from dataplane.proxy_protocol import downstream_peer
from dataplane.stats import ProxyStats
from dataplane.write_batch import WriteBatch

if TYPE_CHECKING:
    from dataplane.http1.exchange import Exchange
    from dataplane.http2.exchange import Http2Exchange
    from dataplane.listener import BoundListener


class Http2Stream(StreamState):
    """One request stream; the ``Downstream`` of its exchange."""

    PAUSE_BODY = 2
    PAUSE_UPSTREAM = 4
    exchange: Http2Exchange | None = None
    # Request body bytes still due by content-length; -1 when there is none.
    body_left = -1
    paused = 0

    def __init__(self, connection: Http2Connection) -> None:
        self.connection = connection
        self.codec = connection.codec
        self.last_active = connection.clock.now

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self.connection.loop

    @property
    def clock(self) -> Clock:
        return self.connection.clock

    @property
    def stats(self) -> ProxyStats:
        return self.connection.stats

    @property
    def buffer_limit(self) -> int:
        return self.connection.buffer_limit

    @property
    def peer(self) -> bytes:
        return self.connection.peer

    @property
    def peer_port(self) -> int:
        return self.connection.peer_port

    @property
    def draining(self) -> bool:
        return self.connection.draining

    @property
    def transport(self) -> asyncio.Transport | None:
        return self.connection.transport

    def write(self, data: bytes) -> None:
        """HTTP/1.1 bytes never reach a stream: ``Http2Exchange`` writes frames."""

    def set_paused(self, reason: int, paused: bool) -> None:
        before = self.paused
        after = before | reason if paused else before & ~reason
        self.paused = after
        if bool(before) != bool(after):
            self.codec.set_hold(self, bool(after))

    def abort(self) -> None:
        self.codec.reset_stream(self, ErrorCode.INTERNAL_ERROR)

    def exchange_finished(self, exchange: Exchange, close: bool) -> None:
        self.exchange = None
        if not self.remote_closed:
            # The response is complete but the request is not: tell the client to stop.
            if self.local_closed:
                self.codec.reset_stream(self, ErrorCode.NO_ERROR)
            else:
                self.reset_when_sent = True
        self.connection.stream_finished()

    def start_tunnel(self, exchange: Exchange) -> None:
        """Upgrades do not exist in HTTP/2 (extended CONNECT is not implemented)."""


class Http2Connection(asyncio.Protocol, DeferredOutput):
    __slots__ = (
        "batch",
        "buffer_limit",
        "clock",
        "closing",
        "codec",
        "draining",
        "keepalive",
        "last_active",
        "loop",
        "out",
        "peer",
        "peer_port",
        "server_name",
        "settings",
        "source",
        "stats",
        "transport",
        "write_paused",
    )

    def __init__(
        self,
        source: BoundListener,
        loop: asyncio.AbstractEventLoop,
        clock: Clock,
        stats: ProxyStats,
        batch: WriteBatch,
        buffer_limit: int,
        codec_settings: CodecSettings,
    ) -> None:
        self.source = source
        self.loop = loop
        self.clock = clock
        self.stats = stats
        self.batch = batch
        self.buffer_limit = buffer_limit
        self.transport: asyncio.Transport | None = None
        self.out: list[bytes] = []
        self.codec = Http2Codec(self, self.write, client_side=False, settings=codec_settings)
        self.peer = b""
        self.peer_port = 0
        self.server_name: str | None = None
        self.settings: HttpSettings | None = None
        self.closing = False
        self.draining = False
        self.write_paused = False
        self.last_active = clock.now
        self.keepalive: PingKeepalive | None = None

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.transport.set_write_buffer_limits(high=self.buffer_limit)
        self.peer, self.peer_port = downstream_peer(transport)
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is not None:
            self.server_name = getattr(ssl_object, "agw_server_name", None)
        self.stats.downstream_connections_active += 1
        self.stats.downstream_connections_total += 1
        self.source.connection_opened(self)
        chain = self.source.chain_for(self.server_name)
        if chain is None:
            self.close()
            return
        self.settings = chain.settings
        self.keepalive = new_keepalive(chain.settings.http2)
        self.codec.start()

    def data_received(self, data: bytes) -> None:
        self.last_active = self.clock.now
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
        self.closing = True
        self.stats.downstream_connections_active -= 1
        self.source.connection_closed(self)
        streams = list(self.codec.streams.values())
        self.codec.streams.clear()
        for stream in streams:
            exchange = cast(Http2Stream, stream).exchange
            if exchange is not None:
                exchange.on_downstream_lost()

    def pause_writing(self) -> None:
        self.write_paused = True
        self._each_exchange(False)

    def resume_writing(self) -> None:
        self.write_paused = False
        self._each_exchange(True)

    def _each_exchange(self, writable: bool) -> None:
        for stream in list(self.codec.streams.values()):
            exchange = cast(Http2Stream, stream).exchange
            if exchange is not None and not (writable and stream.stalled):
                exchange.on_downstream_writable(writable)

    # Codec events

    def new_stream(self, stream_id: int) -> StreamState:
        return Http2Stream(self)

    def on_headers(self, stream: StreamState, headers: list[Field] | None, end: bool) -> None:
        request = cast(Http2Stream, stream)
        request.last_active = self.clock.now
        source = self.source
        chain = source.single_chain
        if chain is None:
            chain = source.chain_for(self.server_name)
        exchange = interpret_request(request, headers, chain, end)
        if exchange is None:
            self.codec.reset_stream(request, ErrorCode.PROTOCOL_ERROR)
            return
        if (
            source.single_chain is None
            and self.server_name is not None
            and source.misdirected(chain, exchange.head.host)
        ):
            exchange.rejection = exchange.rejection or 421
        request.exchange = exchange
        if chain is None:
            exchange.local_reply(404, b"")
        else:
            exchange.start(chain)
        if end:
            exchange.on_request_end()

    def on_data(self, stream: StreamState, data: bytes, end: bool) -> None:
        request = cast(Http2Stream, stream)
        request.last_active = self.clock.now
        exchange = request.exchange
        if exchange is None:
            return
        left = request.body_left
        if left >= 0:
            left -= len(data)
            request.body_left = left
            if left < 0 or (end and left):
                # The body disagrees with its content-length: forwarding it would desync an
                # HTTP/1.1 upstream.
                self.codec.reset_stream(request, ErrorCode.PROTOCOL_ERROR)
                request.exchange = None
                exchange.on_downstream_lost()
                return
        if data:
            exchange.on_body(data)
        if end:
            exchange.on_request_end()

    def on_trailers(self, stream: StreamState, headers: list[Field]) -> None:
        exchange = cast(Http2Stream, stream).exchange
        if exchange is not None:
            exchange.on_request_trailers(headers)
            exchange.on_request_end()

    def on_reset(self, stream: StreamState, code: int) -> None:
        request = cast(Http2Stream, stream)
        exchange = request.exchange
        request.exchange = None
        if exchange is not None:
            exchange.on_downstream_lost()
        self.stream_finished()

    def on_drained(self, stream: StreamState) -> None:
        exchange = cast(Http2Stream, stream).exchange
        if exchange is not None and not self.write_paused:
            exchange.on_downstream_writable(True)

    def on_goaway(self, last_stream_id: int, code: int) -> None:
        self.draining = True
        self.stream_finished()

    def on_connection_error(self, code: int, message: str) -> None:
        self.close()

    def stream_finished(self) -> None:
        if self.draining and not self.codec.active:
            self.close()

    # Listener

    def check_timeouts(self, now: float) -> None:
        """Called by the proxy's ticker: route and stream-idle timeouts, and connection idle."""
        settings = self.settings
        if settings is None or self.closing:
            return
        if self.keepalive is not None and not self._keepalive(self.keepalive, now):
            return
        if not self.codec.active:
            if now - self.last_active > settings.idle_timeout:
                self.drain()
            return
        for stream in list(self.codec.streams.values()):
            request = cast(Http2Stream, stream)
            exchange = request.exchange
            if exchange is None:
                continue
            if exchange.deadline and now >= exchange.deadline:
                exchange.on_route_timeout()
            elif now - max(request.last_active, exchange.upstream_activity()) > (
                settings.stream_idle_timeout
            ):
                exchange.on_stream_idle()

    def _keepalive(self, keepalive: PingKeepalive, now: float) -> bool:
        """False when the connection was closed for an unanswered PING."""
        action = keepalive.check(now, self.last_active)
        if action is KeepaliveAction.PING:
            self.write(ping_frame())
        elif action is KeepaliveAction.CLOSE:
            self.abort()
            return False
        return True

    def drain(self) -> None:
        """GOAWAY: streams already open finish, then the connection closes."""
        self.draining = True
        self.codec.goaway(self.codec.last_remote_id)
        if not self.codec.active:
            self.close()
        else:
            self.flush_writes()

    def close(self) -> None:
        self.closing = True
        transport = self.transport
        if transport is not None and not transport.is_closing():
            self.flush_writes()
            transport.close()

    def abort(self) -> None:
        self.closing = True
        self.out.clear()
        if self.transport is not None:
            self.transport.abort()
