"""Snapshots and the snapshot cache.

Covers: content hashes (deterministic, per resource, stable across equal snapshots), derived
snapshot versions, type checking of resources, immutability, and the cache's watches (wake on
change, coalesce, share an event, clean up). Leaves out the protocol: see the sotw/delta tests.
"""

from __future__ import annotations

import asyncio

import pytest

from controlplane.xds.cache import SnapshotCache
from controlplane.xds.errors import SnapshotTypeMismatch
from controlplane.xds.snapshot import Snapshot
from tests.controlplane import xds_samples as samples
from tests.controlplane.xds_samples import CDS, EDS, LDS


def _snapshot(version: str | None = None, timeout: float = 1.0) -> Snapshot:
    return samples.gateway_snapshot(
        version, {"c1": [("127.0.0.1", 8080)]}, "c1", connect_timeout=timeout
    )


def test_equal_content_gives_equal_versions_across_snapshots() -> None:
    first, second = _snapshot("v1"), _snapshot("v2")
    assert first.versions(CDS) == second.versions(CDS)
    assert first.content_version() == second.content_version()
    assert first.entries(LDS)["gw/http"].serialized == second.entries(LDS)["gw/http"].serialized


def test_a_changed_resource_changes_only_its_own_hash() -> None:
    before, after = _snapshot(), _snapshot(timeout=2.0)
    assert before.versions(CDS) != after.versions(CDS)
    assert before.versions(EDS) == after.versions(EDS)
    assert before.versions(LDS) == after.versions(LDS)


def test_version_defaults_to_the_content_version() -> None:
    assert _snapshot().version == _snapshot().version == _snapshot().content_version()
    assert _snapshot().version != _snapshot(timeout=3.0).version
    assert _snapshot("v7").version == "v7"


def test_resources_of_the_wrong_type_are_refused() -> None:
    cluster = samples.eds_cluster("c1")
    with pytest.raises(SnapshotTypeMismatch, match="Cluster"):
        Snapshot.from_resources({LDS: {"c1": cluster}})


def test_snapshot_mappings_are_read_only_and_absent_types_empty() -> None:
    snapshot = _snapshot()
    with pytest.raises(TypeError):
        snapshot.resources[CDS]["other"] = samples.eds_cluster("other")  # type: ignore[index]
    assert dict(snapshot.entries("type.googleapis.com/unknown.Type")) == {}


async def test_a_watch_wakes_on_change_and_returns_the_latest() -> None:
    cache = SnapshotCache()
    watch = cache.watch("ns/gw")
    waiter = asyncio.create_task(watch.next())
    await asyncio.sleep(0)
    assert not waiter.done()
    for index in range(5):
        cache.set_snapshot("ns/gw", _snapshot(f"v{index}"))
    async with asyncio.timeout(1):
        latest = await waiter
    assert latest is not None and latest.version == "v4"
    watch.close()


async def test_a_watch_sees_only_its_gateway_and_removal() -> None:
    cache = SnapshotCache()
    with cache.watch("ns/a") as watch:
        cache.set_snapshot("ns/b", _snapshot())
        assert not watch.event.is_set()
        cache.set_snapshot("ns/a", _snapshot())
        assert watch.event.is_set()
        watch.event.clear()
        cache.remove("ns/a")
        async with asyncio.timeout(1):
            assert await watch.next() is None
    assert cache.watch_count() == 0


async def test_many_watches_share_or_own_events_and_leave_nothing_behind() -> None:
    cache = SnapshotCache()
    shared = asyncio.Event()
    watches = [cache.watch("ns/gw", shared if i % 2 else None) for i in range(100)]
    cache.set_snapshot("ns/gw", _snapshot())
    assert all(watch.event.is_set() for watch in watches)
    for watch in watches:
        watch.close()
        watch.close()
    assert cache.watch_count() == 0 and cache.watch_count("ns/gw") == 0


def test_publishing_never_waits_for_watchers() -> None:
    cache = SnapshotCache()
    for _ in range(1_000):
        cache.watch("ns/gw")
    # set_snapshot is synchronous: no watcher can make it wait.
    for index in range(100):
        cache.set_snapshot("ns/gw", _snapshot(f"v{index}"))
    latest = cache.get("ns/gw")
    assert latest is not None and latest.version == "v99"
    assert cache.gateways() == ["ns/gw"]
