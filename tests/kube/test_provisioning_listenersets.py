"""The provisioned Service follows the ListenerSets a Gateway accepts, through the whole
control plane against the emulated API server: a ListenerSet that attaches adds its
listener's port to the Service and the proxy container; one the Gateway does not allow adds
nothing; deleting the attached one takes its port away again.

Leaves out: which listeners the translator accepts (translator goldens) and the rendered
objects in detail (test_deployer_render's gateway-listener-set-ports case)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from kubernetes_asyncio.client import ApiClient

from tests.envoy_harness import wait_for
from tests.kube import kubectl
from tests.kube.apiserver import ApiServer
from tests.kube.conftest import running
from tests.kube.test_provisioning_controlplane import (
    TIMEOUT,
    config,
    manifest,
    provisioning_file,
)


async def ports(client: ApiClient) -> tuple[set[int], set[int]]:
    """The Service's ports and the proxy container's, or empty sets before they exist."""
    try:
        service = await kubectl.read(client, manifest("Service"))
        deployment = await kubectl.read(client, manifest("Deployment"))
    except Exception:  # not created yet
        return set(), set()
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    return (
        {port["port"] for port in service["spec"]["ports"]},
        {port["containerPort"] for port in container["ports"] if "name" not in port},
    )


def exposing(client: ApiClient, expected: set[int]) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return await ports(client) == (expected, expected)

    return check


async def test_the_service_exposes_the_ports_of_accepted_listener_sets(
    apiserver: ApiServer, kubeconfig: Path, client: ApiClient, tmp_path: Path
) -> None:
    gateway = kubectl.gateway()
    gateway["spec"]["allowedListeners"] = {"namespaces": {"from": "Same"}}
    setup = [gateway if item["kind"] == "Gateway" else item for item in kubectl.working_setup()]
    await kubectl.create(client, *setup)
    plain = provisioning_file(tmp_path, secure=False)
    async with running(config(kubeconfig, "a", plain)) as control_plane:
        await wait_for(exposing(client, {8080}), timeout=TIMEOUT)

        await kubectl.create(client, kubectl.listener_set(port=9090))
        await wait_for(exposing(client, {8080, 9090}), timeout=TIMEOUT)

        # From a namespace the Gateway does not allow: rejected, so no port.
        await kubectl.create(client, kubectl.namespace("team"))
        stranger = kubectl.listener_set("stranger", port=9191)
        stranger["metadata"]["namespace"] = "team"
        stranger["spec"]["parentRef"]["namespace"] = "default"
        await kubectl.create(client, stranger)
        translations = control_plane.pipeline.metrics.translations
        await wait_for(
            lambda: control_plane.pipeline.metrics.translations > translations, timeout=TIMEOUT
        )
        assert await ports(client) == ({8080, 9090}, {8080, 9090})

        await kubectl.delete(client, kubectl.listener_set())
        await wait_for(exposing(client, {8080}), timeout=TIMEOUT)
