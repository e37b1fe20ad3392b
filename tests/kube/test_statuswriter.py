"""The status writer against the emulated API server, with the real source and pipeline: a
stale view ends in 409 and the write is recomputed from a fresh read; another controller's
route parents survive every write; the lastTransitionTime a condition already has in the
cluster is kept (a restarted control plane does not reset it); Gateways of another class get
no status; a route that leaves our Gateway loses only our entry. The leader-only loop and
write-once counting are covered by test_controlplane_kube."""

from __future__ import annotations

from typing import Any

from kubernetes_asyncio.client import ApiClient

from controlplane.pipeline import Pipeline
from controlplane.sources.kube import KubeApi
from controlplane.statuswriter import StatusWriter
from controlplane.xds.cache import SnapshotCache
from tests.envoy_harness import wait_for
from tests.kube import kubectl
from tests.kube.apiserver import ApiServer
from tests.kube.test_source import running_source
from translator.model import HTTPRoute
from translator.options import TranslateOptions

OTHER = "example.com/other"
LONG_AGO = "2020-01-01T00:00:00Z"


def parent_ref(gateway: str) -> dict[str, Any]:
    return {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": gateway}


def foreign_entry(message: str) -> dict[str, Any]:
    condition = {"type": "Accepted", "status": "True", "reason": "Accepted", "message": message}
    return {"parentRef": parent_ref("other-gw"), "controllerName": OTHER, "conditions": [condition]}


def our_old_entry() -> dict[str, Any]:
    condition = {
        "type": "Accepted",
        "status": "True",
        "reason": "Accepted",
        "message": "old",
        "observedGeneration": 0,
        "lastTransitionTime": LONG_AGO,
    }
    return {
        "parentRef": parent_ref("gw"),
        "controllerName": kubectl.CONTROLLER,
        "conditions": [condition],
    }


async def test_conflicts_other_controllers_and_transition_times(
    apiserver: ApiServer, kube_api: KubeApi, kube_client: ApiClient
) -> None:
    route = kubectl.http_route(parents=("gw", "other-gw"))
    await kubectl.create(
        kube_client,
        *kubectl.working_setup()[:-1],
        kubectl.gateway_class("other", OTHER),
        kubectl.gateway("other-gw", "other"),
        route,
    )
    before = {"parents": [foreign_entry("first"), our_old_entry()]}
    await kubectl.patch(kube_client, route, {"status": before}, subresource="status")

    async with running_source(kube_api) as source:
        pipeline = Pipeline(SnapshotCache(), TranslateOptions())
        resources = source.resource_set()
        pipeline.run_once(resources)
        writer = StatusWriter(kube_api, source, kubectl.CONTROLLER)

        # The other controller writes while our view is stale (the watch has not told us).
        routes = apiserver.find("HTTPRoute")
        changed = {"status": {"parents": [foreign_entry("second"), our_old_entry()]}}
        apiserver.store.patch(
            routes, "default", "web", changed, "application/merge-patch+json", status=True
        )
        writer.offer(pipeline.statuses, resources)
        assert await writer.write_all() == 0
        assert writer.counts.conflicts == 1

        parents = (await kubectl.read(kube_client, route))["status"]["parents"]
        assert parents[0] == foreign_entry("second")
        ours = parents[1]
        assert ours["controllerName"] == kubectl.CONTROLLER
        accepted = next(c for c in ours["conditions"] if c["type"] == "Accepted")
        assert accepted["observedGeneration"] == 1
        assert accepted["lastTransitionTime"] == LONG_AGO
        other_gateway = await kubectl.read(kube_client, kubectl.gateway("other-gw", "other"))
        assert "status" not in other_gateway
        patched = {
            r.url.path
            for r in apiserver.requests_with("patch", "gateways.gateway.networking.k8s.io/status")
        }
        assert patched == {
            "/apis/gateway.networking.k8s.io/v1/namespaces/default/gateways/gw/status"
        }

        # The route leaves our Gateway: our entry goes, the other controller's stays.
        await kubectl.patch(kube_client, route, {"spec": {"parentRefs": [{"name": "other-gw"}]}})

        def moved() -> bool:
            current = source.resource_set().get(HTTPRoute, "default", "web")
            return current is not None and current.metadata.generation == 2

        await wait_for(moved, timeout=5)
        resources = source.resource_set()
        pipeline.run_once(resources)
        writer.offer(pipeline.statuses, resources)
        assert await writer.write_all() == 0
        parents = (await kubectl.read(kube_client, route))["status"]["parents"]
        assert parents == [foreign_entry("second")]
