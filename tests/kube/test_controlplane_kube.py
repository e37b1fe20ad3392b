"""The whole control plane on ``--source kubernetes`` against the emulated API server, with
a kubeconfig and a bearer token as a developer would run it: cluster objects created,
changed and deleted reach the xDS snapshot; a burst of changes is translated once or a few
times, not once per change; statuses are patched with the right conditions,
once, and again only when they change (PATCH requests counted); two replicas both serve xDS
while only the Lease holder writes, and the second takes over when the first stops; a
refused permission at start ends ``agw controlplane`` with a message naming it; a missing
kubeconfig is a usage error.

Left out: the proxies (the xDS server's own tests), conflict handling and other controllers'
status entries (test_statuswriter), relists and backoff (test_source)."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import pytest
from kubernetes_asyncio.client import ApiClient

from controlplane.app import ControlPlane, ControlPlaneConfig
from controlplane.cli import main
from controlplane.commands.controlplane import serve_until_signalled
from tests.envoy_harness import free_port, wait_for
from tests.kube import kubectl
from tests.kube.apiserver import ApiServer
from tests.kube.conftest import running
from tests.kube.test_leader import lease_config
from tests.kube.test_source import FAST
from translator import naming
from translator.xds import type_urls

HOST = "127.0.20.10"
ROUTE_STATUS = "httproutes.gateway.networking.k8s.io/status"
GATEWAY_STATUS = "gateways.gateway.networking.k8s.io/status"


def config(kubeconfig: Path, identity: str) -> ControlPlaneConfig:
    return ControlPlaneConfig(
        source="kubernetes",
        kubeconfig=kubeconfig,
        xds_address=f"{HOST}:{free_port(HOST)}",
        admin_address=f"{HOST}:0",
        address_pool=None,
        kubernetes=FAST,
        lease=lease_config(identity),
    )


def running_control_plane(
    kubeconfig: Path, identity: str
) -> AbstractAsyncContextManager[ControlPlane]:
    return running(config(kubeconfig, identity))


def clusters(control_plane: ControlPlane) -> set[str]:
    snapshot = control_plane.cache.get("default/gw")
    return set(snapshot.resources.get(type_urls.CLUSTER, {})) if snapshot else set()


def conditions(entry: dict[str, Any]) -> dict[str, str]:
    return {c["type"]: c["status"] for c in entry.get("conditions", ())}


async def status_of(client: ApiClient, manifest: kubectl.Manifest) -> dict[str, Any]:
    return (await kubectl.read(client, manifest)).get("status") or {}


async def route_generation_written(client: ApiClient, generation: int) -> bool:
    parents = (await status_of(client, kubectl.http_route())).get("parents") or [{}]
    observed = {c.get("observedGeneration") for c in parents[0].get("conditions", ())}
    return observed == {generation}


async def test_cluster_changes_reach_snapshots_and_statuses(
    apiserver: ApiServer, kubeconfig: Path, client: ApiClient
) -> None:
    await kubectl.create(client, *kubectl.working_setup())
    echo = naming.service_cluster("default", "echo", 80)
    async with running_control_plane(kubeconfig, "a") as control_plane:
        await wait_for(lambda: echo in clusters(control_plane), timeout=10)
        await wait_for(lambda: route_generation_written(client, 1), timeout=10)
        class_status = await status_of(client, kubectl.gateway_class())
        assert conditions(class_status)["Accepted"] == "True"
        gateway_status = await status_of(client, kubectl.gateway())
        assert conditions(gateway_status) == {"Accepted": "True", "Programmed": "True"}
        assert gateway_status["listeners"][0]["attachedRoutes"] == 1
        (parent,) = (await status_of(client, kubectl.http_route()))["parents"]
        assert parent["controllerName"] == kubectl.CONTROLLER
        assert conditions(parent) == {"Accepted": "True", "ResolvedRefs": "True"}
        accepted_at = parent["conditions"][0]["lastTransitionTime"]
        assert len(apiserver.requests_with("patch", ROUTE_STATUS)) == 1
        gateway_patches = len(apiserver.requests_with("patch", GATEWAY_STATUS))
        assert gateway_patches == 1

        # A change that translates to the same statuses writes nothing.
        writer = control_plane.status_writer
        assert writer is not None
        passes = writer.counts.passes
        await kubectl.patch(client, kubectl.service()[0], {"metadata": {"labels": {"a": "b"}}})
        await wait_for(lambda: writer.counts.passes > passes, timeout=5)
        assert len(apiserver.requests_with("patch", ROUTE_STATUS)) == 1

        # A spec change is written once, keeping the time of the unchanged condition.
        await kubectl.patch(client, kubectl.http_route(), {"spec": {"hostnames": ["a.example"]}})
        await wait_for(lambda: route_generation_written(client, 2), timeout=5)
        (parent,) = (await status_of(client, kubectl.http_route()))["parents"]
        assert parent["conditions"][0]["lastTransitionTime"] == accepted_at
        assert len(apiserver.requests_with("patch", ROUTE_STATUS)) == 2
        assert len(apiserver.requests_with("patch", GATEWAY_STATUS)) == gateway_patches

        # Deleting the route takes its backend out of the snapshot and detaches it.
        await kubectl.delete(client, kubectl.http_route())
        await wait_for(lambda: echo not in clusters(control_plane), timeout=5)

        async def detached() -> bool:
            listeners = (await status_of(client, kubectl.gateway()))["listeners"]
            return bool(listeners[0]["attachedRoutes"] == 0)

        await wait_for(detached, timeout=5)


async def test_a_burst_of_changes_is_translated_as_one(
    apiserver: ApiServer, kubeconfig: Path, client: ApiClient
) -> None:
    await kubectl.create(client, *kubectl.working_setup())
    async with running_control_plane(kubeconfig, "a") as control_plane:
        echo = naming.service_cluster("default", "echo", 80)
        await wait_for(lambda: echo in clusters(control_plane), timeout=10)
        translations = control_plane.pipeline.metrics.translations
        # Fifty services and routes land in one go, as a kubectl apply of a big file would.
        routes, services = apiserver.find("HTTPRoute"), apiserver.find("Service")
        for index in range(50):
            apiserver.store.create(services, "default", kubectl.service(f"s{index}")[0])
            route = kubectl.http_route(f"r{index}", service=f"s{index}")
            apiserver.store.create(routes, "default", route)
        apiserver.notify()
        wanted = {naming.service_cluster("default", f"s{i}", 80) for i in range(50)}
        await wait_for(lambda: wanted <= clusters(control_plane), timeout=10)
        assert control_plane.pipeline.metrics.translations - translations <= 5


async def test_every_replica_serves_and_the_second_takes_over_status_writing(
    apiserver: ApiServer, kubeconfig: Path, client: ApiClient
) -> None:
    await kubectl.create(client, *kubectl.working_setup())
    echo = naming.service_cluster("default", "echo", 80)
    first = ControlPlane(config(kubeconfig, "first"))
    await first.start()
    try:
        await wait_for(first.leading.is_set, timeout=5)
        async with running_control_plane(kubeconfig, "second") as second:
            await wait_for(lambda: echo in clusters(second) and echo in clusters(first), timeout=5)
            await wait_for(lambda: route_generation_written(client, 1), timeout=5)
            assert second.status_writer is not None and first.status_writer is not None
            assert not second.leading.is_set()
            assert second.status_writer.counts.patches == 0
            assert first.status_writer.counts.patches > 0

            await first.stop()
            await wait_for(second.leading.is_set, timeout=1.0)
            await kubectl.patch(client, kubectl.http_route(), {"spec": {"hostnames": ["b.c"]}})
            await wait_for(lambda: route_generation_written(client, 2), timeout=5)
            assert second.status_writer.counts.patches > 0
    finally:
        await first.stop()


async def test_a_refused_permission_ends_the_command_with_its_name(
    apiserver: ApiServer, kubeconfig: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    apiserver.refuse(403, "watch", "gateways.gateway.networking.k8s.io")
    assert await serve_until_signalled(config(kubeconfig, "a")) == 1
    error = capsys.readouterr().err
    assert "may not watch gateways.gateway.networking.k8s.io" in error


def test_the_command_checks_its_kubeconfig(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope"
    assert main(["controlplane", "--source", "kubernetes", "--kubeconfig", str(missing)]) == 2
    assert "no such file" in capsys.readouterr().err
