"""Connections to one h2c endpoint: streams are multiplexed, connections opened on demand.

A request takes a stream on the first connection with room (the server's
SETTINGS_MAX_CONCURRENT_STREAMS, capped by the cluster); only when every connection is full is
another opened, up to the cluster's connection limit. Requests that find no room wait, and are
served as connections come up or streams finish. One failed connect fails the requests waiting
for it and counts once towards ejection.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, cast

from dataplane.config.cluster import ClusterConfig
from dataplane.http2.codec import CodecSettings
from dataplane.http2.upstream import Http2Upstream
from dataplane.upstream.endpoint import ConnectWaiter, Endpoint

if TYPE_CHECKING:
    from dataplane.clock import Clock
    from dataplane.write_batch import WriteBatch


class Http2Pool(Endpoint):
    __slots__ = ("codec_settings", "connections", "max_streams", "opening")

    def __init__(
        self,
        host: str,
        port: int,
        loop: asyncio.AbstractEventLoop,
        batch: WriteBatch,
        clock: Clock,
    ) -> None:
        self.connections: list[Http2Upstream] = []
        self.opening = 0
        super().__init__(host, port, loop, batch, clock)

    def configure(self, cluster: ClusterConfig) -> None:
        super().configure(cluster)
        self.max_streams = cluster.max_concurrent_streams
        self.codec_settings = CodecSettings(
            stream_window=cluster.stream_window, connection_window=cluster.connection_window
        )

    def request(self, waiter: ConnectWaiter) -> bool:
        """Hand ``waiter`` a stream now, or queue it; False on overflow."""
        for connection in self.connections:
            if connection.capacity() > 0:
                waiter.on_upstream_ready(connection.open_stream())
                return True
        if len(self.waiters) >= self.max_pending:
            return False
        self.waiters.append(waiter)
        self._grow()
        return True

    def _grow(self) -> None:
        """Open one more connection if the waiters need it and the limit allows."""
        if self.retired or self.opening or self.size >= self.max_connections or not self.waiters:
            return
        self.size += 1
        self.opening += 1
        self.loop.create_task(self._open())

    async def _open(self) -> None:
        try:
            async with asyncio.timeout(self.connect_timeout):
                transport, protocol = await self.open_transport(
                    lambda: Http2Upstream(self, self.batch, self.codec_settings, self.max_streams)
                )
        except (OSError, TimeoutError):
            self.size -= 1
            self._connect_failed()
            return
        connection = cast(Http2Upstream, protocol)
        if not self.peer_is_acceptable(transport):
            # Its connection_lost frees the slot.
            cast(asyncio.Transport, transport).abort()
            self._connect_failed()
            return
        self.opening -= 1
        self.connected()
        if self.retired:
            connection.close()
            return
        self.connections.append(connection)
        self.stream_freed(connection)

    def _connect_failed(self) -> None:
        self.opening -= 1
        self.record_failure()
        waiters = list(self.waiters)
        self.waiters.clear()
        for waiter in waiters:
            waiter.on_connect_failed()

    def stream_freed(self, connection: Http2Upstream) -> None:
        """Room on ``connection``: serve the waiters it can take, grow for the rest."""
        waiters = self.waiters
        batch = self.batch
        owner = not batch.open
        batch.open = True
        try:
            while waiters and connection.capacity() > 0:
                waiters.popleft().on_upstream_ready(connection.open_stream())
        finally:
            if owner:
                batch.end()
        self._grow()

    def unusable(self, connection: Http2Upstream) -> None:
        """The connection takes no new streams (GOAWAY); it closes when its streams end."""
        if connection in self.connections:
            self.connections.remove(connection)
        self._grow()

    def forget(self, connection: Http2Upstream) -> None:
        """A connection closed: free its slot."""
        self.size -= 1
        self.unusable(connection)

    def close_idle(self, older_than: float | None = None) -> None:
        now = self.loop.time()
        for connection in list(self.connections):
            if connection.codec.active:
                continue
            if older_than is None or now - connection.idle_since >= older_than:
                self.connections.remove(connection)
                connection.close()

    def retire(self) -> None:
        self.retired = True
        self.close_idle()
        for connection in self.connections:
            connection.codec.goaway(0)
        self.connections = []
        while self.waiters:
            self.waiters.popleft().on_connect_failed()
