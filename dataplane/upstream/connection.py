"""One HTTP/1.1 connection to an upstream endpoint, driven by httptools callbacks.

It serves one exchange at a time and reports the response through the ``ResponseSink``
interface; the pool keeps it between exchanges. After a ``101 Switching Protocols`` it becomes
a raw tunnel.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Protocol, cast

import httptools

from dataplane.write_batch import BatchedWriter, WriteBatch

if TYPE_CHECKING:
    from dataplane.http2.upstream import UpstreamStream
    from dataplane.upstream.pool import EndpointPool

# Response headers the proxy owns or that only describe this hop.
_HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"transfer-encoding",
        b"upgrade",
        b"trailer",
        b"content-length",
        b"server",
        b"date",
    }
)


class ResponseSink(Protocol):
    """What an upstream connection reports to the exchange it serves."""

    def on_response_head(
        self, status: int, response: UpstreamConnection | UpstreamStream
    ) -> None: ...
    def on_response_body(self, data: bytes) -> None: ...
    def on_response_trailers(self, trailers: list[tuple[bytes, bytes]]) -> None: ...
    def on_response_end(self) -> None: ...
    def on_upstream_lost(self, connection: UpstreamConnection | UpstreamStream) -> None: ...
    def on_tunnel_data(self, data: bytes) -> None: ...
    def on_upstream_writable(self, writable: bool) -> None: ...


class UpstreamConnection(asyncio.Protocol, BatchedWriter):
    # An HTTP/1.1 response never ends with its head (HTTP/2's END_STREAM on HEADERS).
    head_ends_stream = False

    __slots__ = (
        "batch",
        "chunked",
        "closed",
        "content_length",
        "exchange",
        "got_bytes",
        "headers",
        "idle_since",
        "informational",
        "keep_alive",
        "last_active",
        "parser",
        "pool",
        "reuses",
        "server",
        "skip_body",
        "transport",
        "tunnel",
        "upgrade",
    )

    def __init__(self, pool: EndpointPool, batch: WriteBatch) -> None:
        self.pool = pool
        self.batch = batch
        self.transport: asyncio.Transport | None = None
        self.pending_writes: list[bytes] | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.exchange: ResponseSink | None = None
        self.closed = False
        self.tunnel = False
        self.reuses = 0
        self.idle_since = 0.0
        self.last_active = 0.0
        self._reset()

    def _reset(self) -> None:
        # Response header fields, lower-case names, hop-by-hop ones left out.
        self.headers: list[tuple[bytes, bytes]] = []
        self.content_length: bytes | None = None
        self.chunked = False
        self.keep_alive = True
        self.upgrade: bytes | None = None
        self.server: bytes | None = None
        self.got_bytes = False
        self.skip_body = False
        self.informational = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement the interface without subclassing asyncio.Transport.
        transport = cast(asyncio.Transport, transport)
        self.transport = transport
        transport.set_write_buffer_limits(high=self.pool.buffer_limit)

    def attach(self, exchange: ResponseSink, skip_body: bool) -> None:
        self.exchange = exchange
        self.headers = []
        self.content_length = self.upgrade = self.server = None
        self.chunked = self.got_bytes = self.informational = False
        self.keep_alive = True
        self.skip_body = skip_body

    def detach(self) -> None:
        self.exchange = None

    def release(self) -> None:
        """Back to the pool after a complete exchange."""
        self.pool.release(self)

    def unprocessed(self) -> bool:
        """True when a reused connection closed before any answer: the server had closed it
        before our request got there, so the request reached no application."""
        return bool(self.reuses and not self.got_bytes)

    # asyncio.Protocol

    def data_received(self, data: bytes) -> None:
        exchange = self.exchange
        if exchange is None:
            # Bytes from an idle connection: the server is not speaking HTTP/1.1 to us.
            self.close()
            return
        self.got_bytes = True
        self.last_active = self.pool.clock.now
        if self.tunnel:
            exchange.on_tunnel_data(data)
            return
        batch = self.batch
        owner = not batch.open
        batch.open = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:
            rest = data[upgrade.args[0] :]
            self.tunnel = True
            if rest and self.exchange is not None:
                self.exchange.on_tunnel_data(rest)
        except httptools.HttpParserError:
            exchange = self.exchange
            self.close()
            if exchange is not None:
                exchange.on_upstream_lost(self)
        finally:
            if owner:
                batch.open = False
                if batch.dirty:
                    batch.flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.pool.forget(self)
        exchange = self.exchange
        if exchange is not None:
            self.exchange = None
            exchange.on_upstream_lost(self)

    def pause_writing(self) -> None:
        if self.exchange is not None:
            self.exchange.on_upstream_writable(False)

    def resume_writing(self) -> None:
        if self.exchange is not None:
            self.exchange.on_upstream_writable(True)

    # httptools callbacks

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        if name in _HOP_BY_HOP:
            if name == b"content-length":
                self.content_length = value
            elif name == b"transfer-encoding":
                self.chunked = b"chunked" in value.lower()
            elif name == b"upgrade":
                self.upgrade = value
            elif name == b"server":
                self.server = value
            return
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        exchange = self.exchange
        if exchange is None:
            return
        status = self.parser.get_status_code()
        if 100 <= status < 200 and status != 101:
            # Interim responses (100 Continue after we stripped Expect, 103) are dropped.
            self.informational = True
            self.headers = []
            return
        self.keep_alive = self.parser.should_keep_alive()
        exchange.on_response_head(status, self)
        if self.skip_body and self.exchange is exchange:
            # A response to HEAD has no body whatever its headers say; httptools cannot be
            # told so, hence this connection is not reused.
            self.keep_alive = False
            self.exchange = None
            exchange.on_response_end()

    def on_body(self, body: bytes) -> None:
        exchange = self.exchange
        if exchange is not None:
            exchange.on_response_body(body)

    def on_message_complete(self) -> None:
        if self.informational:
            self.informational = False
            return
        exchange = self.exchange
        if exchange is not None:
            exchange.on_response_end()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.exchange = None
        transport = self.transport
        if transport is not None:
            self.flush_writes()
            transport.close()

    def reset(self) -> None:
        """Close without flushing: the exchange gave up on this connection."""
        self.closed = True
        self.exchange = None
        self.pending_writes = None
        if self.transport is not None:
            self.transport.abort()

    def pause_reading(self, paused: bool) -> None:
        transport = self.transport
        if transport is None or self.closed:
            return
        if paused:
            transport.pause_reading()
        else:
            transport.resume_reading()
