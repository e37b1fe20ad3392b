"""The status writer against the emulated API server, with the real source and pipeline: a
stale view ends in 409 and the write is recomputed from a fresh read; another controller's
route parents survive every write; the lastTransitionTime a condition already has in the
cluster is kept (a restarted control plane does not reset it); Gateways of another class get
no status; a route that leaves our Gateway loses only our entry; a Gateway that leaves our
class (changed or deleted) loses the status we wrote, and its ListenerSets, routes and
policies lose our conditions and entries, while what another controller wrote stays. The
leader-only loop and write-once counting are covered by test_controlplane_kube; a Gateway
that left while no control plane ran is left alone (the writer's record is in memory) and
not tested."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubernetes_asyncio.client import ApiClient

from controlplane.pipeline import Pipeline
from controlplane.sources.kube import KubeApi, KubernetesSource
from controlplane.statuswriter import StatusWriter
from controlplane.xds.cache import SnapshotCache
from tests.envoy_harness import wait_for
from tests.kube import kubectl
from tests.kube.apiserver import ApiServer
from tests.kube.test_source import running_source
from translator.model import Gateway, HTTPRoute
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


def ours_gateway() -> dict[str, Any]:
    gateway = kubectl.gateway()
    gateway["spec"]["allowedListeners"] = {"namespaces": {"from": "Same"}}
    return gateway


async def translate_and_write(source: KubernetesSource, writer: StatusWriter) -> None:
    pipeline = Pipeline(SnapshotCache(), TranslateOptions())
    resources = source.resource_set()
    pipeline.run_once(resources)
    writer.offer(pipeline.statuses, resources)
    assert await writer.write_all() == 0


def generation_seen(source: KubernetesSource, generation: int) -> Callable[[], bool]:
    def seen() -> bool:
        current = source.resource_set().get(Gateway, "default", "gw")
        return current is None or current.metadata.generation >= generation

    return seen


async def statuses(kube_client: ApiClient, *manifests: dict[str, Any]) -> list[dict[str, Any]]:
    return [(await kubectl.read(kube_client, m)).get("status") or {} for m in manifests]


async def test_a_gateway_leaving_our_class_loses_everything_we_wrote(
    kube_api: KubeApi, kube_client: ApiClient
) -> None:
    gateway, listeners, route = ours_gateway(), kubectl.listener_set(), kubectl.http_route()
    policy = kubectl.backend_tls_policy()
    await kubectl.create(
        kube_client,
        kubectl.namespace(),
        kubectl.gateway_class(),
        kubectl.gateway_class("other", OTHER),
        gateway,
        *kubectl.service(),
        route,
        listeners,
        policy,
    )
    # Another controller's route entry, beside ours, must survive the release.
    await kubectl.patch(
        kube_client, route, {"status": {"parents": [foreign_entry("theirs")]}}, "status"
    )
    async with running_source(kube_api) as source:
        writer = StatusWriter(kube_api, source, kubectl.CONTROLLER)
        await translate_and_write(source, writer)
        gw, ls, rt, tls = await statuses(kube_client, gateway, listeners, route, policy)
        assert {c["type"] for c in gw["conditions"]} >= {"Accepted", "Programmed"}
        assert [entry["name"] for entry in gw["listeners"]] == ["http"]
        assert gw["attachedListenerSets"] == 1
        assert ls["listeners"][0]["port"] == 9090
        assert [p["controllerName"] for p in rt["parents"]] == [OTHER, kubectl.CONTROLLER]
        assert [a["controllerName"] for a in tls["ancestors"]] == [kubectl.CONTROLLER]
        patches = writer.counts.patches

        await kubectl.patch(kube_client, gateway, {"spec": {"gatewayClassName": "other"}})
        await wait_for(generation_seen(source, 2), timeout=5)
        await translate_and_write(source, writer)
        gw, ls, rt, tls = await statuses(kube_client, gateway, listeners, route, policy)
        assert gw == {} and ls == {}
        assert rt["parents"] == [foreign_entry("theirs")]
        assert tls.get("ancestors") == []
        assert writer.counts.patches == patches + 4

        # Nothing of ours is left: a further pass writes nothing.
        await translate_and_write(source, writer)
        assert writer.counts.patches == patches + 4


async def test_what_the_new_controller_wrote_stays_and_a_deleted_class_releases(
    apiserver: ApiServer, kube_api: KubeApi, kube_client: ApiClient
) -> None:
    first, second = kubectl.gateway(), kubectl.gateway("second")
    await kubectl.create(
        kube_client,
        kubectl.namespace(),
        kubectl.gateway_class(),
        kubectl.gateway_class("other", OTHER),
        first,
        second,
    )
    async with running_source(kube_api) as source:
        writer = StatusWriter(kube_api, source, kubectl.CONTROLLER)
        await translate_and_write(source, writer)
        await kubectl.patch(kube_client, first, {"spec": {"gatewayClassName": "other"}})
        # The other controller answers before our next pass, replacing what we wrote.
        ours = (await kubectl.read(kube_client, first))["status"]
        theirs = {
            "type": "Accepted",
            "status": "True",
            "reason": "Accepted",
            "message": "mine now",
            "observedGeneration": 2,
        }
        replaced = {"conditions": [theirs], "addresses": [], "listeners": []}
        await kubectl.patch(kube_client, first, {"status": replaced}, "status")
        await wait_for(generation_seen(source, 2), timeout=5)
        await translate_and_write(source, writer)
        assert (await kubectl.read(kube_client, first))["status"] == replaced
        assert ours["listeners"]  # ours were there, and went

        # The class goes away: the Gateway of it is no longer ours.
        await kubectl.delete(kube_client, kubectl.gateway_class())

        def class_gone() -> bool:
            return not any(c.metadata.name == "agw" for c in source.resource_set().gateway_classes)

        await wait_for(class_gone, timeout=5)
        await translate_and_write(source, writer)
        assert (await kubectl.read(kube_client, second)).get("status") in (None, {})
        # Three first writes (the class, two Gateways) and one release: the other controller's
        # status was left alone (a stale view of it may have cost a 409, never a write).
        assert writer.counts.patches == 4
