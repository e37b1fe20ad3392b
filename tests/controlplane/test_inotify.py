"""The inotify waker of the polled directory: a change is seen without waiting for a poll.

The safety-net poll is made far longer than the deadlines here, so only inotify can explain
a change being picked up in time; directories created later are watched after the scan that
finds them; a file still open for writing makes the scan wait for quiet, within a bound,
and one written whole does not. Leaves what a scan reads to the file-source tests."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from controlplane.sources.inotify import DirectoryWatch
from controlplane.sources.polled import PolledDirectory

ROUTE = """\
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: NAME, namespace: default}
spec: {parentRefs: [{name: gw}]}
"""


@pytest.fixture
def polled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> PolledDirectory:
    monkeypatch.setattr(PolledDirectory, "WATCHED_POLL_INTERVAL", 60.0)
    return PolledDirectory(tmp_path, poll_interval=60.0, clock=time.time)


async def _picked_up(polled: PolledDirectory, path: Path, name: str) -> set[str]:
    """The routes seen once ``name`` is among them (or at the deadline). The file's creation
    and its content are separate events, so the first wake may find it still empty."""
    waiting = asyncio.ensure_future(polled.changed())
    await asyncio.sleep(0)
    path.write_text(ROUTE.replace("NAME", name))
    deadline = time.monotonic() + 5
    names: set[str] = set()
    while name not in names and time.monotonic() < deadline:
        await asyncio.wait_for(waiting, timeout=max(0.0, deadline - time.monotonic()))
        names = {route.metadata.name for route in polled.resource_set().http_routes}
        waiting = asyncio.ensure_future(polled.changed())
    waiting.cancel()
    return names


async def test_a_write_wakes_the_scan_long_before_the_poll(
    polled: PolledDirectory, tmp_path: Path
) -> None:
    await polled.start()
    try:
        assert polled.watch.active
        assert await _picked_up(polled, tmp_path / "a.yaml", "a") == {"a"}
    finally:
        await polled.stop()


async def test_directories_created_later_are_watched_too(
    polled: PolledDirectory, tmp_path: Path
) -> None:
    await polled.start()
    try:
        nested = tmp_path / "team"
        waiting = asyncio.ensure_future(polled.changed())
        await asyncio.sleep(0)
        nested.mkdir()
        (nested / "b.yaml").write_text(ROUTE.replace("NAME", "b"))
        await asyncio.wait_for(waiting, timeout=5)
        assert await _picked_up(polled, nested / "c.yaml", "c") == {"b", "c"}
    finally:
        await polled.stop()


async def test_a_stopped_watch_lets_go_of_its_descriptor(tmp_path: Path) -> None:
    watch = DirectoryWatch(tmp_path)
    watch.start()
    assert watch.active
    watch.stop()
    assert not watch.active


async def test_the_watch_fires_on_a_write_and_on_a_rename(tmp_path: Path) -> None:
    watch = DirectoryWatch(tmp_path)
    watch.start()
    try:
        (tmp_path / ".a.tmp").write_text("x")
        await asyncio.wait_for(watch.changed.wait(), timeout=5)
        watch.changed.clear()
        (tmp_path / ".a.tmp").replace(tmp_path / "a.yaml")
        await asyncio.wait_for(watch.changed.wait(), timeout=5)
    finally:
        watch.stop()


async def test_a_burst_is_waited_out_but_never_past_the_limit(
    polled: PolledDirectory,
) -> None:
    """The settle wait ends soon after the last event, and at its limit while events keep
    coming (a writer that never stops must not starve the scan)."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    await polled._quiet(5.0)
    assert loop.time() - start < 1.0

    async def keep_poking() -> None:
        # An event on every turn of the loop: never a quiet moment (bounded at 5 s).
        deadline = loop.time() + 5
        while loop.time() < deadline:
            polled.watch.changed.set()
            await asyncio.sleep(0)

    poking = asyncio.ensure_future(keep_poking())
    try:
        start = loop.time()
        await polled._quiet(0.1)
        took = loop.time() - start
    finally:
        poking.cancel()
    assert 0.1 <= took < 1.0


async def test_a_file_open_for_writing_is_unsettled_until_closed(tmp_path: Path) -> None:
    watch = DirectoryWatch(tmp_path)
    watch.start()
    try:
        (tmp_path / ".b.tmp").write_text("whole")  # written and closed, then renamed in
        (tmp_path / ".b.tmp").replace(tmp_path / "b.yaml")
        await asyncio.wait_for(watch.changed.wait(), timeout=5)
        assert watch.settled
        with open(tmp_path / "c.yaml", "w") as half_written:
            half_written.write("kind: ")
            half_written.flush()
            watch.changed.clear()
            await asyncio.wait_for(watch.changed.wait(), timeout=5)
            assert not watch.settled
            watch.changed.clear()
        await asyncio.wait_for(watch.changed.wait(), timeout=5)
        assert watch.settled
    finally:
        watch.stop()
