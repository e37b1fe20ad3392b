"""Push-to-ACK time against the real Envoy for a large gateway: one RouteConfiguration with
1,000 routes in 4 virtual hosts over 100 EDS clusters, SotW and delta.

Measures, from ``set_snapshot`` until the proxy has ACKed everything (``synced_snapshot``):
the initial push to a connected Envoy, a rewrite of all 1,000 routes, and a change to all 100
clusters (which must not leave them warming). Prints the medians (run with ``-s`` to see
them) and fails only on figures an order of magnitude off. Leaves out many proxies per gateway.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import pytest

from controlplane.bootstrap import envoy_bootstrap
from controlplane.xds.snapshot import Snapshot
from tests.controlplane import xds_samples as samples
from tests.controlplane.xds_control_plane import GATEWAY, ControlPlane, running_control_plane
from tests.envoy_harness import Backend, free_port, http_get, run_envoy, wait_for

LISTEN_HOST = "127.0.21.3"
ROUNDS = 5
# Generous: a warming stall alone costs 15 s; healthy pushes take tens of milliseconds.
BOUND_SECONDS = 5.0


async def _push_to_ack(plane: ControlPlane, snapshot: Snapshot) -> float:
    started = time.perf_counter()
    plane.publish(snapshot)
    await wait_for(
        lambda: plane.is_synced(snapshot.version),
        timeout=BOUND_SECONDS,
        interval=0.001,
        message=f"ACK of {snapshot.version}",
    )
    return time.perf_counter() - started


@pytest.mark.parametrize("delta", [False, True], ids=["sotw", "delta"])
async def test_push_to_ack_with_1000_routes_and_100_clusters(
    tmp_path: Path, backend_a: Backend, delta: bool
) -> None:
    port = free_port(LISTEN_HOST)
    endpoint = (backend_a.host, backend_a.port)

    def large(version: str, salt: str = "", timeout: float = 1.0) -> Snapshot:
        snapshot = samples.large_snapshot(version, endpoint, listen=(LISTEN_HOST, port), salt=salt)
        if timeout == 1.0:
            return snapshot
        clusters = {
            name: samples.eds_cluster(name, timeout) for name in snapshot.resources[samples.CDS]
        }
        return Snapshot.from_resources({**snapshot.resources, samples.CDS: clusters}, version)

    async with running_control_plane() as plane:
        bootstrap = envoy_bootstrap(GATEWAY, plane.address, delta=delta)
        async with run_envoy(bootstrap, tmp_path, log_level="warning") as envoy:
            await wait_for(lambda: bool(plane.proxies()), timeout=10, message="Envoy connected")
            initial = await _push_to_ack(plane, large("v0"))
            await envoy.wait_ready()
            routes, clusters = [], []
            for index in range(1, ROUNDS + 1):
                routes.append(await _push_to_ack(plane, large(f"r{index}", salt=f"s{index}")))
                clusters.append(
                    await _push_to_ack(
                        plane, large(f"c{index}", salt=f"s{index}", timeout=1.0 + index)
                    )
                )
            response = await http_get(LISTEN_HOST, port, f"/s{ROUNDS}r999/")
            assert (response.status, response.text) == (200, "backend-a")
            dump = await envoy.dump_section("ClustersConfigDump")
            assert not dump.get("dynamic_warming_clusters")
            assert len(dump["dynamic_active_clusters"]) == 100
    flavour = "delta" if delta else "sotw"
    print(
        f"\n[push-to-ACK {flavour}] initial {initial * 1000:.0f} ms; "
        f"1,000-route rewrite median {statistics.median(routes) * 1000:.0f} ms "
        f"(max {max(routes) * 1000:.0f}); 100-cluster change median "
        f"{statistics.median(clusters) * 1000:.0f} ms (max {max(clusters) * 1000:.0f})"
    )
