"""One proxied stream: a downstream connection spliced to one upstream connection.

The downstream is not read while the upstream connects (Envoy's tcp_proxy does the same), so
a passthrough ClientHello mostly still sits in the socket until there is somewhere to send it;
bytes (and a FIN) that arrive anyway, as uvloop starts reading after ``connection_made``, are
held and sent once connected. Each side's write buffer past its high-water mark pauses
reading on the other side. A FIN is passed on as a FIN where the transport can half-close
(plain TCP); TLS cannot, so the other side is closed after its pending bytes are flushed.
The connection attempt goes to the next endpoint the balancer picks, up to
``max_connect_attempts`` attempts in all (default 1, so a failed connect closes the
downstream, as in Envoy).
"""

from __future__ import annotations

import asyncio
from typing import Protocol, cast

from dataplane.clock import Clock
from dataplane.stats import ProxyStats
from dataplane.tcp.chain import TcpChain
from dataplane.upstream.endpoint import Endpoint


class StreamOwner(Protocol):
    """What a session needs from its listener."""

    loop: asyncio.AbstractEventLoop
    clock: Clock
    stats: ProxyStats

    @property
    def buffer_limit(self) -> int: ...
    def connection_opened(self, connection: TcpSession) -> None: ...
    def connection_closed(self, connection: TcpSession) -> None: ...


class TcpSession(asyncio.Protocol):
    __slots__ = (
        "attempts",
        "chain",
        "closed",
        "downstream",
        "downstream_eof",
        "last_active",
        "owner",
        "pending",
        "task",
        "upstream",
        "upstream_eof",
    )

    def __init__(self, owner: StreamOwner, chain: TcpChain) -> None:
        self.owner = owner
        self.chain = chain
        self.downstream: asyncio.Transport | None = None
        self.upstream: asyncio.Transport | None = None
        self.task: asyncio.Task[None] | None = None
        self.attempts = 0
        self.closed = False
        self.downstream_eof = False
        self.upstream_eof = False
        self.last_active = owner.clock.now
        # Downstream bytes read before the upstream connected.
        self.pending: list[bytes] = []

    # Downstream side (asyncio.Protocol)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement the interface without subclassing asyncio.Transport.
        downstream = self.downstream = cast(asyncio.Transport, transport)
        downstream.set_write_buffer_limits(high=self.owner.buffer_limit)
        downstream.pause_reading()
        stats = self.owner.stats
        stats.tcp_connections_total += 1
        stats.tcp_connections_active += 1
        self.owner.connection_opened(self)
        self._connect()

    def data_received(self, data: bytes) -> None:
        self.last_active = self.owner.clock.now
        self.owner.stats.tcp_bytes_received += len(data)
        if self.upstream is not None:
            self.upstream.write(data)
        else:
            self.pending.append(data)
            _set_reading(self.downstream, False)

    def eof_received(self) -> bool | None:
        self.downstream_eof = True
        upstream = self.upstream
        if upstream is None:
            # Passed on once connected.
            return True
        if self.upstream_eof or not upstream.can_write_eof():
            self.close()
            return None
        upstream.write_eof()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self.owner.stats.tcp_connections_active -= 1
        self.owner.connection_closed(self)
        self.close()

    def pause_writing(self) -> None:
        _set_reading(self.upstream, False)

    def resume_writing(self) -> None:
        _set_reading(self.upstream, True)

    # Upstream side, reported by ``TcpUpstream``

    def on_upstream_data(self, data: bytes) -> None:
        self.last_active = self.owner.clock.now
        self.owner.stats.tcp_bytes_sent += len(data)
        if self.downstream is not None:
            self.downstream.write(data)

    def on_upstream_eof(self) -> bool:
        self.upstream_eof = True
        downstream = self.downstream
        if downstream is None or self.downstream_eof or not downstream.can_write_eof():
            self.close()
            return False
        downstream.write_eof()
        return True

    def on_upstream_writable(self, writable: bool) -> None:
        _set_reading(self.downstream, writable)

    # Connecting

    def _connect(self) -> None:
        balancer = self.chain.pick_cluster()
        endpoint = balancer.pick() if balancer is not None else None
        if endpoint is None:
            # No such cluster, or no endpoints (agw/invalid-backend): refuse the stream.
            self.close()
            return
        self.attempts += 1
        self.task = self.owner.loop.create_task(self._open(endpoint))

    async def _open(self, endpoint: Endpoint) -> None:
        loop = self.owner.loop
        try:
            async with asyncio.timeout(endpoint.connect_timeout):
                transport, _ = await loop.create_connection(
                    lambda: TcpUpstream(self), endpoint.host, endpoint.port
                )
        except (OSError, TimeoutError):
            endpoint.record_failure()
            self.owner.stats.upstream_connect_failures += 1
            if self.closed:
                return
            if self.attempts < self.chain.config.proxy.max_connect_attempts:
                self._connect()
            else:
                self.close()
            return
        endpoint.connected()
        if self.closed:
            transport.close()
            return
        upstream = self.upstream = transport
        upstream.set_write_buffer_limits(high=endpoint.buffer_limit)
        self.last_active = self.owner.clock.now
        if self.pending:
            upstream.writelines(self.pending)
            self.pending = []
        if self.downstream_eof:
            if upstream.can_write_eof():
                upstream.write_eof()
            else:
                self.close()
            return
        _set_reading(self.downstream, True)

    # The listener's view of a connection

    def check_timeouts(self, now: float) -> None:
        idle_timeout = self.chain.config.proxy.idle_timeout
        if idle_timeout and now - self.last_active >= idle_timeout:
            self.abort()

    def drain(self) -> None:
        """Streams are not interrupted by a drain; the listener's drain timeout ends them."""

    def close(self) -> None:
        """Close both sides once their pending bytes are written."""
        if self.closed:
            return
        self.closed = True
        for transport in (self.downstream, self.upstream):
            if transport is not None:
                transport.close()
        if self.task is not None and not self.task.done():
            self.task.cancel()

    def abort(self) -> None:
        self.closed = True
        for transport in (self.downstream, self.upstream):
            if transport is not None:
                transport.abort()
        if self.task is not None and not self.task.done():
            self.task.cancel()


def _set_reading(transport: asyncio.Transport | None, reading: bool) -> None:
    if transport is None or transport.is_closing():
        return
    if reading:
        transport.resume_reading()
    else:
        transport.pause_reading()


class TcpUpstream(asyncio.Protocol):
    __slots__ = ("session",)

    def __init__(self, session: TcpSession) -> None:
        self.session = session

    def data_received(self, data: bytes) -> None:
        self.session.on_upstream_data(data)

    def eof_received(self) -> bool | None:
        return self.session.on_upstream_eof()

    def connection_lost(self, exc: Exception | None) -> None:
        self.session.close()

    def pause_writing(self) -> None:
        self.session.on_upstream_writable(False)

    def resume_writing(self) -> None:
        self.session.on_upstream_writable(True)
