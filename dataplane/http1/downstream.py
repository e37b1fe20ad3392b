"""The client side of HTTP/1.1: an ``asyncio.Protocol`` fed to httptools' request parser.

Requests on one connection are answered in order: a pipelined request waits (parsed, its body
buffered, reading paused) until the one before it has its response. Limits, smuggling defences
and timeouts live here; forwarding lives in ``Exchange``. This is the hot path: callbacks are
few and inline the common case.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Protocol, cast

import httptools

from dataplane.chain import HttpChain
from dataplane.clock import Clock
from dataplane.config.listener import HttpSettings
from dataplane.http1.exchange import Exchange
from dataplane.http1.local_reply import encode_local_reply
from dataplane.http1.request_line import SPECIAL_HEADERS, RequestRejected, interpret_head
from dataplane.proxy_protocol import downstream_peer
from dataplane.stats import ProxyStats
from dataplane.write_batch import BatchedWriter, WriteBatch


class ChainSource(Protocol):
    """The listener a connection belongs to."""

    draining: bool
    # The only chain when there is one (no SNI to look at), else None.
    single_chain: HttpChain | None

    def chain_for(self, server_name: str | None) -> HttpChain | None: ...
    def connection_opened(self, connection: DownstreamConnection) -> None: ...
    def connection_closed(self, connection: DownstreamConnection) -> None: ...


class DownstreamConnection(asyncio.Protocol, BatchedWriter):
    PAUSE_PIPELINE = 1
    PAUSE_BODY = 2
    PAUSE_UPSTREAM = 4

    __slots__ = (
        "active",
        "batch",
        "broken",
        "buffer_limit",
        "clock",
        "closing",
        "draining",
        "head_bytes",
        "head_size",
        "head_started",
        "headers",
        "last_active",
        "loop",
        "max_head_bytes",
        "parser",
        "parsing",
        "paused",
        "peer",
        "peer_port",
        "queue",
        "reject_status",
        "server_name",
        "settings",
        "source",
        "special",
        "stats",
        "transport",
        "tunnel",
        "upgrading",
        "url",
    )  # fmt: skip

    def __init__(
        self,
        source: ChainSource,
        loop: asyncio.AbstractEventLoop,
        clock: Clock,
        stats: ProxyStats,
        batch: WriteBatch,
        buffer_limit: int = 1 << 20,
    ) -> None:
        self.source = source
        self.loop = loop
        self.clock = clock
        self.stats = stats
        self.batch = batch
        self.buffer_limit = buffer_limit
        self.transport: asyncio.Transport | None = None
        self.pending_writes: list[bytes] | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.active: Exchange | None = None
        self.parsing: Exchange | None = None
        self.queue: deque[Exchange] = deque()
        self.tunnel: Exchange | None = None
        self.upgrading: Exchange | None = None
        self.paused = 0
        self.closing = False
        self.draining = False
        self.broken = 0
        self.reject_status = 0
        # Bytes of the request head read so far; -1 while a body is being read.
        self.head_bytes = 0
        # Sum of header value lengths of the head being parsed (names are bounded by count).
        self.head_size = 0
        self.head_started = 0.0
        self.last_active = clock.now
        self.peer = b""
        self.peer_port = 0
        self.server_name: str | None = None
        self.settings: HttpSettings | None = None
        self.max_head_bytes = 60 * 1024
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.special: dict[bytes, bytes] | None = None

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement the interface without subclassing asyncio.Transport.
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
        self.max_head_bytes = chain.settings.max_request_headers_bytes

    def data_received(self, data: bytes) -> None:
        self.last_active = now = self.clock.now
        if self.upgrading is not None:
            self.upgrading.on_client_tunnel_data(data)
            return
        if self.closing or self.broken:
            return
        head_bytes = self.head_bytes
        if head_bytes >= 0:
            if not head_bytes:
                self.head_started = now
            self.head_bytes = head_bytes + len(data)
        batch = self.batch
        owner = not batch.open
        batch.open = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:
            self._upgraded(data[upgrade.args[0] :])
        except httptools.HttpParserError:
            self._malformed()
        finally:
            if owner:
                batch.open = False
                if batch.dirty:
                    batch.flush()
        if self.head_bytes > self.max_head_bytes:
            # Still inside one request head after all these bytes: it is too large.
            self._reject(431)

    def _upgraded(self, rest: bytes) -> None:
        exchange = self.parsing or self.active
        if exchange is not None and exchange.upgrade is not None:
            self.upgrading = exchange
            if rest:
                exchange.on_client_tunnel_data(rest)
        elif rest:
            # An upgrade the proxy ignores (h2c): the parser resumed, keep feeding it.
            self.data_received(rest)

    def _malformed(self) -> None:
        status = self.reject_status or 400
        active = self.active
        if self.parsing is not None and self.parsing is active:
            # The body of the request in flight is malformed: it cannot be completed.
            self.parsing = None
            self.broken = status
            active.local_reply(status, b"", close=True)
        else:
            self._reject(status)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
        self.stats.downstream_connections_active -= 1
        self.source.connection_closed(self)
        for exchange in (self.active, self.tunnel, *self.queue):
            if exchange is not None:
                exchange.on_downstream_lost()
        self.queue.clear()
        self.active = self.tunnel = self.upgrading = self.parsing = None

    def pause_writing(self) -> None:
        if self.active is not None:
            self.active.on_downstream_writable(False)

    def resume_writing(self) -> None:
        if self.active is not None:
            self.active.on_downstream_writable(True)

    # httptools callbacks

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        if self.head_bytes < 0:
            return  # trailers: dropped
        self.head_size += len(value)
        name = name.lower()
        if name in SPECIAL_HEADERS:
            special = self.special
            if special is None:
                self.special = {name: value}
                return
            if name in special:
                if name == b"host":
                    self.reject_status = 400
                    raise RequestRejected(400)
                value = special[name] + b"," + value
            special[name] = value
            return
        headers = self.headers
        headers.append((name, value))
        if len(headers) > 64:
            settings = self.settings
            if settings is not None and len(headers) > settings.max_headers_count:
                self.reject_status = 431
                raise RequestRejected(431)

    def on_headers_complete(self) -> None:
        if self.head_size + len(self.url) > self.max_head_bytes:
            self.reject_status = 431
            raise RequestRejected(431)
        self.head_size = 0
        self.head_bytes = -1
        self.head_started = 0.0
        source = self.source
        chain = source.single_chain or source.chain_for(self.server_name)
        exchange = interpret_head(self, chain)
        self.url = b""
        self.headers = []
        self.special = None
        self.parsing = exchange
        if exchange.rejection:
            # Answer in order, then close: nothing after a malformed head can be trusted.
            self.closing = True
        if self.active is None:
            self.active = exchange
            if chain is None:
                exchange.local_reply(404, b"", close=True)
            else:
                if chain.settings is not self.settings:
                    self.settings = chain.settings
                    self.max_head_bytes = chain.settings.max_request_headers_bytes
                exchange.start(chain)
        else:
            self.queue.append(exchange)
            self.set_paused(self.PAUSE_PIPELINE, True)

    def on_body(self, body: bytes) -> None:
        exchange = self.parsing
        if exchange is not None:
            exchange.on_body(body)

    def on_message_complete(self) -> None:
        exchange = self.parsing
        self.parsing = None
        self.head_bytes = 0
        if exchange is not None:
            exchange.on_request_end()

    # Exchanges

    def exchange_finished(self, exchange: Exchange, close: bool) -> None:
        if exchange is self.tunnel:
            self.tunnel = None
        if exchange is not self.active:
            return
        self.active = None
        if close or self.draining:
            self.close()
            return
        if self.queue:
            following = self.active = self.queue.popleft()
            if not self.queue:
                self.set_paused(self.PAUSE_PIPELINE, False)
            chain = self.source.chain_for(self.server_name)
            if chain is None:
                following.local_reply(404, b"", close=True)
            else:
                following.start(chain)
        elif self.broken:
            self._reject(self.broken)

    def start_tunnel(self, exchange: Exchange) -> None:
        self.tunnel = exchange

    def set_paused(self, reason: int, paused: bool) -> None:
        before = self.paused
        after = before | reason if paused else before & ~reason
        self.paused = after
        transport = self.transport
        if transport is None or self.closing or bool(before) == bool(after):
            return
        if after:
            transport.pause_reading()
        else:
            transport.resume_reading()

    def _reject(self, status: int) -> None:
        """A malformed or oversized request: answer it (after any response in flight), close."""
        if self.active is not None:
            self.broken = status
            self.set_paused(self.PAUSE_PIPELINE, True)
            return
        self.broken = status
        server = self.settings.server_name if self.settings is not None else b"agw"
        self.write(encode_local_reply(status, b"", server, close=True))
        self.close()

    # Ending

    def check_timeouts(self, now: float) -> None:
        """Called by the proxy's ticker: route, stream-idle, header-read and idle timeouts."""
        settings = self.settings
        if settings is None or self.closing or self.tunnel is not None:
            return
        active = self.active
        if active is not None:
            if active.deadline and now >= active.deadline:
                active.on_route_timeout()
            elif now - max(self.last_active, active.upstream_activity()) > (
                settings.stream_idle_timeout
            ):
                active.on_stream_idle()
        elif self.head_started and now - self.head_started > settings.request_headers_timeout:
            self._reject(408)
        elif now - self.last_active > settings.idle_timeout:
            self.close()

    def drain(self) -> None:
        """Finish the exchange in flight, then close; close now when idle."""
        self.draining = True
        if self.active is None and self.tunnel is None:
            self.close()

    def close(self) -> None:
        transport = self.transport
        self.closing = True
        if transport is not None and not transport.is_closing():
            self.flush_writes()
            transport.close()

    def abort(self) -> None:
        self.closing = True
        self.pending_writes = None
        if self.transport is not None:
            self.transport.abort()
