"""What every connection pool of one endpoint shares: limits, waiters, passive ejection."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from dataplane.clock import Clock
from dataplane.config.cluster import ClusterConfig, OutlierPolicy
from dataplane.config.tls_context import UpstreamTls
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
        "failures",
        "host",
        "idle_timeout",
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

    async def open_transport(
        self, factory: Callable[[], asyncio.Protocol]
    ) -> tuple[asyncio.BaseTransport, asyncio.Protocol]:
        """Connect, with TLS when the cluster asks for it (the handshake counts towards the
        connect timeout, which the caller enforces)."""
        return await self.loop.create_connection(
            factory, self.host, self.port, **connect_arguments(self.tls, self.connect_timeout)
        )

    def peer_is_acceptable(self, transport: asyncio.BaseTransport) -> bool:
        return peer_is_acceptable(self.tls, transport)

    def cancel(self, waiter: ConnectWaiter) -> None:
        with contextlib.suppress(ValueError):
            self.waiters.remove(waiter)

    def connected(self) -> None:
        self.failures = 0
        self.ejections = 0

    def record_failure(self) -> None:
        self.failures += 1
        if self.failures < self.outlier.consecutive_failures:
            return
        self.failures = 0
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
