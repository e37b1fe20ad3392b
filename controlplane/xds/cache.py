"""Per-gateway snapshots and watches that wake streams when a gateway's snapshot changes.

Publishing never waits for a stream: a change only sets each watcher's ``asyncio.Event``. A
watcher that wakes late reads the latest snapshot, so intermediate ones are skipped, never
queued. The cache belongs to one event loop; publish from that loop (``asyncio.Event`` is not
thread-safe), e.g. with ``loop.call_soon_threadsafe`` from a translation thread.
"""

from __future__ import annotations

import asyncio
from types import TracebackType

from controlplane.xds.snapshot import Snapshot


class Watch:
    """Interest in one gateway's next change; close it (or use ``with``) when the stream ends."""

    def __init__(self, cache: SnapshotCache, gateway: str, event: asyncio.Event) -> None:
        self._cache = cache
        self.gateway = gateway
        self.event = event

    async def next(self) -> Snapshot | None:
        """Wait for a change since the last call, then return the latest snapshot."""
        await self.event.wait()
        self.event.clear()
        return self._cache.get(self.gateway)

    def close(self) -> None:
        self._cache._forget(self)

    def __enter__(self) -> Watch:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class SnapshotCache:
    def __init__(self) -> None:
        self._snapshots: dict[str, Snapshot] = {}
        self._watches: dict[str, set[Watch]] = {}

    def set_snapshot(self, gateway: str, snapshot: Snapshot) -> None:
        self._snapshots[gateway] = snapshot
        self._notify(gateway)

    def get(self, gateway: str) -> Snapshot | None:
        return self._snapshots.get(gateway)

    def remove(self, gateway: str) -> None:
        """Forget a gateway; its streams stay open and keep the proxies' last config."""
        if self._snapshots.pop(gateway, None) is not None:
            self._notify(gateway)

    def gateways(self) -> list[str]:
        return sorted(self._snapshots)

    def watch(self, gateway: str, event: asyncio.Event | None = None) -> Watch:
        """Watch a gateway; pass ``event`` to share one wake-up with other sources."""
        watch = Watch(self, gateway, event if event is not None else asyncio.Event())
        self._watches.setdefault(gateway, set()).add(watch)
        return watch

    def watch_count(self, gateway: str | None = None) -> int:
        if gateway is not None:
            return len(self._watches.get(gateway, ()))
        return sum(len(watches) for watches in self._watches.values())

    def _notify(self, gateway: str) -> None:
        for watch in self._watches.get(gateway, ()):
            watch.event.set()

    def _forget(self, watch: Watch) -> None:
        watches = self._watches.get(watch.gateway)
        if watches is None:
            return
        watches.discard(watch)
        if not watches:
            del self._watches[watch.gateway]
