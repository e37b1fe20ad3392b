"""Per-endpoint connection pools: keep-alive reuse, bounded size, passive ejection.

Pools are keyed by (cluster, host, port) and outlive config swaps, so a new config keeps the
warm connections of every endpoint it still uses. Ejection after connect failures lives here
too, for the same reason.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Iterable
from typing import Protocol

from dataplane.clock import Clock
from dataplane.config.cluster import ClusterConfig, OutlierPolicy
from dataplane.upstream.connection import UpstreamConnection
from dataplane.write_batch import WriteBatch

PoolKey = tuple[str, str, int]
# Idle connections kept per endpoint beyond which released ones are closed.
MAX_IDLE = 256


class ConnectWaiter(Protocol):
    def on_upstream_ready(self, connection: UpstreamConnection) -> None: ...
    def on_connect_failed(self) -> None: ...


class EndpointPool:
    __slots__ = (
        "batch",
        "buffer_limit",
        "clock",
        "connect_timeout",
        "ejected_until",
        "ejections",
        "failures",
        "host",
        "idle",
        "idle_timeout",
        "loop",
        "max_connections",
        "max_pending",
        "outlier",
        "port",
        "retired",
        "size",
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
        self.idle: list[UpstreamConnection] = []
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

    def acquire(self) -> UpstreamConnection | None:
        idle = self.idle
        while idle:
            connection = idle.pop()
            if not connection.closed:
                connection.reuses += 1
                return connection
        return None

    def request(self, waiter: ConnectWaiter) -> bool:
        """Connect for ``waiter`` or queue it; False when both limits are reached (overflow)."""
        if self.size < self.max_connections:
            self.size += 1
            self.loop.create_task(self._open(waiter))
            return True
        if len(self.waiters) < self.max_pending:
            self.waiters.append(waiter)
            return True
        return False

    def cancel(self, waiter: ConnectWaiter) -> None:
        with contextlib.suppress(ValueError):
            self.waiters.remove(waiter)

    async def _open(self, waiter: ConnectWaiter) -> None:
        try:
            async with asyncio.timeout(self.connect_timeout):
                _, connection = await self.loop.create_connection(
                    lambda: UpstreamConnection(self, self.batch), self.host, self.port
                )
        except (OSError, TimeoutError):
            self.size -= 1
            self._record_failure()
            waiter.on_connect_failed()
            return
        self.failures = 0
        self.ejections = 0
        waiter.on_upstream_ready(connection)

    def _record_failure(self) -> None:
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

    def release(self, connection: UpstreamConnection) -> None:
        """Take a connection back after a complete exchange; reuse it or close it."""
        connection.detach()
        if connection.closed:
            return
        if self.retired or not connection.keep_alive:
            connection.close()
            return
        if self.waiters:
            self.waiters.popleft().on_upstream_ready(connection)
            return
        if len(self.idle) >= MAX_IDLE:
            connection.close()
            return
        connection.idle_since = self.loop.time()
        self.idle.append(connection)

    def forget(self, connection: UpstreamConnection) -> None:
        """A connection closed (either side); free its slot."""
        self.size -= 1
        if connection in self.idle:
            self.idle.remove(connection)
        if self.waiters and self.size < self.max_connections and not self.retired:
            self.size += 1
            self.loop.create_task(self._open(self.waiters.popleft()))

    def close_idle(self, older_than: float | None = None) -> None:
        now = self.loop.time()
        keep = []
        for connection in self.idle:
            if older_than is None or now - connection.idle_since >= older_than:
                connection.close()
            else:
                keep.append(connection)
        self.idle = keep

    def retire(self) -> None:
        self.retired = True
        self.close_idle()
        while self.waiters:
            self.waiters.popleft().on_connect_failed()


class UpstreamPools:
    """Every endpoint pool of one proxy."""

    def __init__(self, loop: asyncio.AbstractEventLoop, batch: WriteBatch, clock: Clock) -> None:
        self.loop = loop
        self.batch = batch
        self.clock = clock
        self.pools: dict[PoolKey, EndpointPool] = {}

    def pool(self, cluster: ClusterConfig, host: str, port: int) -> EndpointPool:
        key = (cluster.name, host, port)
        pool = self.pools.get(key)
        if pool is None:
            pool = self.pools[key] = EndpointPool(host, port, self.loop, self.batch, self.clock)
        pool.configure(cluster)
        return pool

    def retire_all_but(self, keep: Iterable[PoolKey]) -> None:
        kept = set(keep)
        for key in [k for k in self.pools if k not in kept]:
            self.pools.pop(key).retire()

    def sweep(self) -> None:
        for pool in self.pools.values():
            if pool.idle:
                pool.close_idle(older_than=pool.idle_timeout)
