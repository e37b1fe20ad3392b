"""What every connection pool of one endpoint shares: limits, waiters, passive ejection."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from dataplane.clock import Clock
from dataplane.config.cluster import ClusterConfig, OutlierPolicy
from dataplane.config.connection import Keepalive
from dataplane.config.tls_context import UpstreamTls
from dataplane.keepalive import enable_keepalive
from dataplane.upstream.tls import connect_arguments, peer_is_acceptable
from dataplane.write_batch import WriteBatch

if TYPE_CHECKING:
    from dataplane.http2.upstream import UpstreamStream
    from dataplane.upstream.connection import UpstreamConnection


class ConnectWaiter(Protocol):
    def on_upstream_ready(self, connection: UpstreamConnection | UpstreamStream) -> None: ...
    def on_connect_failed(self) -> None: ...


class Endpoint:
    """One endpoint of one cluster: limits, waiters, and passive ejection."""

    __slots__ = (
        "batch",
        "buffer_limit",
        "clock",
        "connect_timeout",
        "ejected_until",
        "ejections",
        "errors",
        "failures",
        "host",
        "idle_timeout",
        "keepalive",
        "loop",
        "max_connections",
        "max_pending",
        "outlier",
        "port",
        "retired",
        "size",
        "tls",
        "waiters",
    )

    def __init__(
        self,
        host: str,
        port: int,
        loop: asyncio.AbstractEventLoop,
        batch: WriteBatch,
        clock: Clock,
    ) -> None:
        self.host = host
        self.port = port
        self.loop = loop
        self.batch = batch
        self.clock = clock
        self.waiters: deque[ConnectWaiter] = deque()
        # Open plus connecting connections.
        self.size = 0
        self.failures = 0
        # Consecutive 5xx answers and connect failures (OutlierPolicy.consecutive_5xx).
        self.errors = 0
        self.ejections = 0
        self.ejected_until = 0.0
        self.retired = False
        self.configure(ClusterConfig("", ()))

    def configure(self, cluster: ClusterConfig) -> None:
        self.connect_timeout = cluster.connect_timeout
        self.idle_timeout = cluster.idle_timeout
        self.buffer_limit = cluster.buffer_limit
        self.max_connections = cluster.max_connections
        self.max_pending = cluster.max_pending
        self.outlier: OutlierPolicy = cluster.outlier
        self.tls: UpstreamTls | None = cluster.tls
        self.keepalive: Keepalive | None = cluster.keepalive

    async def open_transport(
        self, factory: Callable[[], asyncio.Protocol]
    ) -> tuple[asyncio.BaseTransport, asyncio.Protocol]:
        """Connect, with TLS when the cluster asks for it (the handshake counts towards the
        connect timeout, which the caller enforces)."""
        transport, protocol = await self.loop.create_connection(
            factory, self.host, self.port, **connect_arguments(self.tls, self.connect_timeout)
        )
        if self.keepalive is not None:
            enable_keepalive(transport.get_extra_info("socket"), self.keepalive)
        return transport, protocol

    def peer_is_acceptable(self, transport: asyncio.BaseTransport) -> bool:
        return peer_is_acceptable(self.tls, transport)

    def cancel(self, waiter: ConnectWaiter) -> None:
        with contextlib.suppress(ValueError):
            self.waiters.remove(waiter)

    def connected(self) -> None:
        self.failures = 0
        self.ejections = 0

    def record_status(self, status: int) -> None:
        """A response's status, for ejection after consecutive 5xx (when configured)."""
        if status < 500:
            self.errors = 0
        elif self.outlier.consecutive_5xx:
            self._count_error()

    def _count_error(self) -> bool:
        """Count one 5xx; True when it ejected the endpoint."""
        self.errors += 1
        if self.errors < self.outlier.consecutive_5xx:
            return False
        self.errors = 0
        self._eject()
        return True

    def record_failure(self) -> None:
        # Envoy counts a connect failure as a 5xx (errors are not split by origin).
        if self.outlier.consecutive_5xx and self._count_error():
            self.failures = 0
            return
        self.failures += 1
        if self.failures < self.outlier.consecutive_failures:
            return
        self.failures = 0
        self._eject()

    def _eject(self) -> None:
        ejection = min(
            self.outlier.base_ejection * (1 << min(self.ejections, 16)), self.outlier.max_ejection
        )
        self.ejections += 1
        self.ejected_until = self.loop.time() + ejection

    def is_ejected(self) -> bool:
        until = self.ejected_until
        if not until:
            return False
        if until <= self.loop.time():
            self.ejected_until = 0.0
            return False
        return True
