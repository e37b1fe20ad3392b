"""The file source, polled and woken by inotify: ``changed()`` returns once a scan found the
directory different from the last one.

Where inotify works, a change wakes the next scan at once and polling is only a safety net
(once a second). While a file is still being written (created or modified, not closed yet),
the scan waits until the directory has been quiet for ``QUIET_SECONDS``, never longer than
the poll interval in all, so a burst of writes is one scan. Where inotify does not work,
scans come every ``poll_interval`` at most, and no more often than keeps their cost near 5%
of a core: a small directory is checked every few tens of milliseconds, one with thousands
of files less often. A change that lands during a translation is picked up by the next
scan."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from pathlib import Path

from controlplane.sources.file import FileSource
from controlplane.sources.inotify import DirectoryWatch
from translator.resources import ResourceSet


class PolledDirectory:
    # Without inotify: sleep this many times as long as the last scan took, between scans.
    SCAN_COST_FACTOR = 20.0
    # With inotify: scan anyway this often, in case an event was lost.
    WATCHED_POLL_INTERVAL = 1.0
    # With inotify, while a file is being written: the writer is done once no event came for
    # this long (one writing a file in a few calls is done well within).
    QUIET_SECONDS = 0.001

    def __init__(self, directory: Path, poll_interval: float, clock: Callable[[], float]):
        self.files = FileSource(directory, clock=clock)
        self.poll_interval = poll_interval
        self.watch = DirectoryWatch(directory)

    async def start(self) -> None:
        self.watch.start()
        await asyncio.get_running_loop().run_in_executor(None, self.files.scan)

    async def stop(self) -> None:
        self.watch.stop()

    async def changed(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if self.watch.active:
                await self._woken()
            self.watch.changed.clear()
            start = time.perf_counter()
            if await loop.run_in_executor(None, self.files.scan):
                self.watch.watch_tree()
                return
            cost = time.perf_counter() - start
            if not self.watch.active:
                await asyncio.sleep(max(self.poll_interval, self.SCAN_COST_FACTOR * cost))

    async def _woken(self) -> None:
        """Return once something changed since the last scan began (or a poll is due). No
        event since means no change: the scan is skipped, which keeps it from competing for
        the interpreter with the push of the update just translated. While a file is still
        being written, wait for quiet first."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.watch.changed.wait(), self.WATCHED_POLL_INTERVAL)
        if not self.watch.settled:
            await self._quiet(self.poll_interval)
            # Over, whatever the events said: a file created and never written (a link)
            # must not make every later change wait.
            self.watch.writing.clear()

    async def _quiet(self, limit: float) -> None:
        """Return once no event came for ``QUIET_SECONDS``, or after ``limit`` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        while (remaining := deadline - loop.time()) > 0:
            self.watch.changed.clear()
            try:
                await asyncio.wait_for(
                    self.watch.changed.wait(), min(self.QUIET_SECONDS, remaining)
                )
            except TimeoutError:
                return

    def resource_set(self) -> ResourceSet:
        return self.files.resource_set()

    def problems(self) -> list[str]:
        return self.files.problems()
