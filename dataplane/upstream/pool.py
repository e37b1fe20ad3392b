"""Per-endpoint connection pools: keep-alive reuse, bounded size, passive ejection.

Pools are keyed by (cluster, host, port) and outlive config swaps, so a new config keeps the
warm connections of every endpoint it still uses. Ejection after connect failures lives here
too, for the same reason. ``Endpoint`` is what every pool shares (limits, ejection);
``EndpointPool`` holds HTTP/1.1 connections, ``Http2Pool`` (h2c clusters) multiplexes streams.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import cast

from dataplane.clock import Clock
from dataplane.config.cluster import ClusterConfig
from dataplane.http2.pool import Http2Pool
from dataplane.retry_budget import RetryBudget
from dataplane.upstream.connection import UpstreamConnection
from dataplane.upstream.endpoint import ConnectWaiter, Endpoint
from dataplane.write_batch import WriteBatch

PoolKey = tuple[str, str, int]
# Idle connections kept per endpoint beyond which released ones are closed.
MAX_IDLE = 256


class EndpointPool(Endpoint):
    """HTTP/1.1 connections to one endpoint, reused one exchange at a time."""

    __slots__ = ("idle",)

    def __init__(
        self,
        host: str,
        port: int,
        loop: asyncio.AbstractEventLoop,
        batch: WriteBatch,
        clock: Clock,
    ) -> None:
        self.idle: list[UpstreamConnection] = []
        super().__init__(host, port, loop, batch, clock)

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

    async def _open(self, waiter: ConnectWaiter) -> None:
        try:
            async with asyncio.timeout(self.connect_timeout):
                transport, protocol = await self.open_transport(
                    lambda: UpstreamConnection(self, self.batch)
                )
        except (OSError, TimeoutError):
            self.size -= 1
            self.record_failure()
            waiter.on_connect_failed()
            return
        connection = cast(UpstreamConnection, protocol)
        if not self.peer_is_acceptable(transport):
            # Its connection_lost frees the slot.
            connection.reset()
            self.record_failure()
            waiter.on_connect_failed()
            return
        self.connected()
        waiter.on_upstream_ready(connection)

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
        self.pools: dict[PoolKey, EndpointPool | Http2Pool] = {}
        # By cluster name: a budget's windows outlive config updates that keep its settings.
        self.budgets: dict[str, RetryBudget] = {}

    def retry_budget(self, cluster: ClusterConfig) -> RetryBudget | None:
        config = cluster.retry_budget
        if config is None:
            self.budgets.pop(cluster.name, None)
            return None
        budget = self.budgets.get(cluster.name)
        if budget is None or budget.config != config:
            budget = self.budgets[cluster.name] = RetryBudget(config, self.loop.time)
        return budget

    def pool(self, cluster: ClusterConfig, host: str, port: int) -> EndpointPool | Http2Pool:
        key = (cluster.name, host, port)
        pool = self.pools.get(key)
        kind = Http2Pool if cluster.http2 else EndpointPool
        if pool is not None and type(pool) is not kind:
            # The cluster changed protocol: its connections speak the old one.
            self.pools.pop(key).retire()
            pool = None
        if pool is None:
            pool = self.pools[key] = kind(host, port, self.loop, self.batch, self.clock)
        pool.configure(cluster)
        return pool

    def retire_all_but(self, keep: Iterable[PoolKey]) -> None:
        kept = set(keep)
        for key in [k for k in self.pools if k not in kept]:
            self.pools.pop(key).retire()

    def sweep(self) -> None:
        for pool in self.pools.values():
            pool.close_idle(older_than=pool.idle_timeout)
