"""The inotify waker of the polled directory: a change is seen without waiting for a poll.

The safety-net poll is made far longer than the deadlines here, so only inotify can explain
a change being picked up in time; directories created later are watched after the scan that
finds them. Leaves what a scan reads to the file-source tests."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from controlplane.app import PolledDirectory
from controlplane.sources.inotify import DirectoryWatch

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
