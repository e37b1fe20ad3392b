"""The ADS server against the real Envoy 1.40, state of the world and delta, with snapshots
built by hand: a listener whose HCM uses RDS, a route to an EDS cluster, the cluster's
endpoints pointing at a loopback backend.

Covers: Envoy started before its gateway has a snapshot connects through ``envoy_bootstrap``,
becomes ready once one is published and serves the route; a cluster-only change never leaves
the cluster warming; an invalid cluster is NACKed once, shows in the sync status, Envoy keeps
serving, and the fix is accepted without a request loop; a control-plane restart on the same
port keeps traffic flowing and Envoy resyncs without modifying anything; switching a route
between two clusters (each snapshot holding only the one in use) 50 times under continuous
traffic fails no request. Leaves out the translator: snapshots here are hand-made protos.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from controlplane.bootstrap import envoy_bootstrap
from controlplane.xds.snapshot import Snapshot
from tests.controlplane import xds_samples as samples
from tests.controlplane.xds_control_plane import GATEWAY, ControlPlane, running_control_plane
from tests.controlplane.xds_samples import CDS
from tests.envoy_harness import (
    Backend,
    EnvoyProcess,
    free_port,
    http_get,
    run_envoy,
    run_traffic,
    wait_for,
)

LISTEN_HOST = "127.0.21.2"
# Far below Envoy's 15 s initial fetch timeout, which is what a warming bug costs.
WARMING_DEADLINE = 2.0

pytestmark = pytest.mark.parametrize("delta", [False, True], ids=["sotw", "delta"])


class Gateway:
    """Snapshots for one listener port and a set of backends."""

    def __init__(self, backends: dict[str, Backend]) -> None:
        self.port = free_port(LISTEN_HOST)
        self.backends = backends

    def snapshot(self, version: str, route_to: str, *, timeout: float = 1.0) -> Snapshot:
        backend = self.backends[route_to]
        return samples.gateway_snapshot(
            version,
            {route_to: [(backend.host, backend.port)]},
            route_to,
            listen=(LISTEN_HOST, self.port),
            connect_timeout=timeout,
        )

    async def get(self) -> str:
        response = await http_get(LISTEN_HOST, self.port)
        assert response.status == 200, (response.status, response.text)
        return response.text


@pytest.fixture
async def plane() -> AsyncIterator[ControlPlane]:
    async with running_control_plane() as plane:
        yield plane


async def _clusters_dump(envoy: EnvoyProcess) -> dict[str, Any]:
    return await envoy.dump_section("ClustersConfigDump")


async def _active_timeout(envoy: EnvoyProcess, cluster: str) -> str | None:
    dump = await _clusters_dump(envoy)
    if dump.get("dynamic_warming_clusters"):
        return None
    for entry in dump.get("dynamic_active_clusters", []):
        if entry["cluster"]["name"] == cluster:
            return str(entry["cluster"].get("connect_timeout"))
    return None


async def _stat(envoy: EnvoyProcess, name: str) -> int:
    text = (await envoy.admin(f"/stats?filter=^{name}$")).text
    return int(text.split(":")[1]) if ":" in text else 0


async def test_envoy_connects_becomes_ready_and_serves_the_route(
    tmp_path: Path, plane: ControlPlane, backend_a: Backend, delta: bool
) -> None:
    gateway = Gateway({"a": backend_a})
    bootstrap = envoy_bootstrap(GATEWAY, plane.address, delta=delta)
    async with run_envoy(bootstrap, tmp_path) as envoy:
        await wait_for(lambda: bool(plane.proxies()), timeout=10, message="Envoy connected")
        assert not await envoy.is_ready()
        plane.publish(gateway.snapshot("v1", "a"))
        await envoy.wait_ready()
        await plane.wait_synced("v1")
        assert await gateway.get() == "backend-a"
        [proxy] = plane.proxies()
        assert proxy.node_id == f"envoy/{GATEWAY}"
        assert proxy.flavour == ("delta" if delta else "sotw")
        assert all(sync.is_acked() and sync.nacks == 0 for sync in proxy.types.values())
        assert len(proxy.types) == 4


async def test_cluster_only_change_never_leaves_the_cluster_warming(
    tmp_path: Path, plane: ControlPlane, backend_a: Backend, delta: bool
) -> None:
    gateway = Gateway({"a": backend_a})
    plane.publish(gateway.snapshot("v1", "a"))
    async with run_envoy(envoy_bootstrap(GATEWAY, plane.address, delta=delta), tmp_path) as envoy:
        await envoy.wait_ready()
        await plane.wait_synced("v1")
        for version, timeout in (("v2", 2.0), ("v3", 3.0)):
            plane.publish(gateway.snapshot(version, "a", timeout=timeout))

            async def updated(expected: str = f"{timeout:.0f}s") -> bool:
                return await _active_timeout(envoy, "a") == expected

            await wait_for(
                updated, timeout=WARMING_DEADLINE, message="cluster updated, none warming"
            )
            await plane.wait_synced(version, timeout=WARMING_DEADLINE)
        assert await _stat(envoy, "cluster.a.init_fetch_timeout") == 0
        assert await gateway.get() == "backend-a"


async def test_invalid_cluster_is_nacked_once_and_the_fix_accepted_without_a_loop(
    tmp_path: Path, plane: ControlPlane, backend_a: Backend, delta: bool
) -> None:
    gateway = Gateway({"a": backend_a})
    plane.publish(gateway.snapshot("v1", "a"))
    async with run_envoy(envoy_bootstrap(GATEWAY, plane.address, delta=delta), tmp_path) as envoy:
        await envoy.wait_ready()
        await plane.wait_synced("v1")
        [proxy] = plane.proxies()
        plane.publish(gateway.snapshot("v2", "a", timeout=0.0))
        await wait_for(lambda: proxy.types[CDS].nacks > 0, timeout=5, message="NACK recorded")
        assert "ConnectTimeout" in proxy.types[CDS].last_nack
        assert proxy.types[CDS].last_nack_time is not None
        # Envoy keeps serving the last good cluster; meanwhile a resend loop would show.
        for _ in range(20):
            assert await gateway.get() == "backend-a"
        assert await _active_timeout(envoy, "a") == "1s"
        assert proxy.types[CDS].nacks == 1 and plane.metrics.nacks == 1
        assert proxy.stream.synced_snapshot == ""
        requests_before_fix = plane.metrics.requests
        plane.publish(gateway.snapshot("v3", "a", timeout=3.0))
        await plane.wait_synced("v3")
        assert await _active_timeout(envoy, "a") == "3s"
        for _ in range(20):
            assert await gateway.get() == "backend-a"
        # The fix costs one CDS and one EDS round trip, not a loop.
        assert plane.metrics.requests - requests_before_fix <= 4
        assert proxy.types[CDS].nacks == 1 and plane.metrics.nacks == 1


async def test_control_plane_restart_keeps_traffic_and_resyncs_without_warming(
    tmp_path: Path, plane: ControlPlane, backend_a: Backend, delta: bool
) -> None:
    gateway = Gateway({"a": backend_a})
    plane.publish(gateway.snapshot("v1", "a"))
    async with run_envoy(envoy_bootstrap(GATEWAY, plane.address, delta=delta), tmp_path) as envoy:
        await envoy.wait_ready()
        await plane.wait_synced("v1")
        modified = [
            await _stat(envoy, name)
            for name in ("cluster_manager.cluster_modified", "listener_manager.listener_modified")
        ]
        async with run_traffic(LISTEN_HOST, gateway.port) as traffic:
            await wait_for(lambda: traffic.ok > 10, timeout=5, message="traffic flowing")
            await plane.stop()
            restarted = ControlPlane(plane.address)
            restarted.publish(gateway.snapshot("v1", "a"))
            await restarted.start()
            try:
                await restarted.wait_synced("v1", timeout=15)
                served = traffic.ok
                await wait_for(lambda: traffic.ok > served + 10, timeout=5, message="traffic")
            finally:
                await restarted.stop()
        assert traffic.failures == []
        assert not (await _clusters_dump(envoy)).get("dynamic_warming_clusters")
        assert await _stat(envoy, "cluster_manager.warming_clusters") == 0
        # Content-hash versions: the resync changed nothing in Envoy.
        assert modified == [
            await _stat(envoy, name)
            for name in ("cluster_manager.cluster_modified", "listener_manager.listener_modified")
        ]


async def test_switching_a_route_between_clusters_50_times_fails_no_request(
    tmp_path: Path, plane: ControlPlane, backend_a: Backend, backend_b: Backend, delta: bool
) -> None:
    gateway = Gateway({"a": backend_a, "b": backend_b})
    plane.publish(gateway.snapshot("v0", "a"))
    async with run_envoy(envoy_bootstrap(GATEWAY, plane.address, delta=delta), tmp_path) as envoy:
        await envoy.wait_ready()
        await plane.wait_synced("v0")
        async with run_traffic(LISTEN_HOST, gateway.port) as traffic:
            for index in range(1, 51):
                # Each snapshot holds only the cluster in use: every switch adds one cluster
                # and drops the other.
                plane.publish(gateway.snapshot(f"v{index}", "ab"[index % 2]))
                await plane.wait_synced(f"v{index}")
                served = traffic.ok
                await wait_for(lambda n=served: traffic.ok > n, timeout=5, message="traffic")
        assert traffic.failures == []
        assert set(traffic.bodies) == {"backend-a", "backend-b"}
        assert not (await _clusters_dump(envoy)).get("dynamic_warming_clusters")
