"""The Kubernetes source against the emulated API server: the initial list, then watched
creations, changes and deletions; a relist after 410 that never shows a partial cluster;
bookmarks that spare a quiet kind that relist; a CRD installed after start-up; 401/403 at
start as a fatal error naming the permission; an invalid object reported with its last good
version kept; only referenced Secrets in the ResourceSet; backoff on watch failures; which
kinds are watched at which version. Translation and status writing are covered by
test_controlplane_kube; the emulator's own semantics by test_apiserver."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from kubernetes_asyncio.client import ApiClient

from controlplane.sources.kube import KubeApi, KubernetesSource, PermissionDenied, SourceSettings
from controlplane.sources.kube.backoff import Backoff
from controlplane.sources.kube.kinds import version_priority, watched_kinds
from controlplane.sources.kube.watcher import WatchSettings
from tests.envoy_harness import wait_for
from tests.kube import kubectl
from tests.kube.apiserver import ApiServer, running_apiserver
from tests.kube.conftest import APISERVER_HOST, client_configuration
from tests.kube.resources import GATEWAY, standard_resources, without
from translator.gatewayapi.status import ObjectId
from translator.model import (
    RESOURCE_KINDS,
    AgentgatewayParameters,
    HTTPRoute,
    ListenerSet,
    Secret,
    TCPRoute,
)

FAST = SourceSettings(
    watch=WatchSettings(watch_timeout=5),
    rediscovery_interval=0.05,
    backoff_initial=0.01,
    backoff_maximum=0.05,
)


@contextlib.asynccontextmanager
async def running_source(
    api: KubeApi, settings: SourceSettings = FAST, **options: Any
) -> AsyncIterator[KubernetesSource]:
    source = KubernetesSource(api, settings, **options)
    await source.start()
    try:
        yield source
    finally:
        await source.stop()


def route_names(source: KubernetesSource) -> list[str]:
    return [route.metadata.name for route in source.resource_set().http_routes]


async def test_lists_then_follows_creations_changes_and_deletions(
    kube_api: KubeApi, kube_client: ApiClient
) -> None:
    await kubectl.create(kube_client, *kubectl.working_setup())
    async with running_source(kube_api) as source:
        resources = source.resource_set()
        assert [gw.metadata.name for gw in resources.gateways] == ["gw"]
        assert route_names(source) == ["web"]
        assert [ns.metadata.name for ns in resources.namespaces] == ["default"]
        assert len(resources.endpoint_slices) == 1
        assert AgentgatewayParameters in source.watchers  # agentgateway.dev kinds too

        await kubectl.create(kube_client, kubectl.http_route("second"))
        await wait_for(lambda: route_names(source) == ["second", "web"], timeout=5)
        await kubectl.patch(kube_client, kubectl.http_route(), {"spec": {"hostnames": ["a.b"]}})

        def changed() -> bool:
            route = source.resource_set().get(HTTPRoute, "default", "web")
            return route is not None and route.metadata.generation == 2

        await wait_for(changed, timeout=5)
        await kubectl.delete(kube_client, kubectl.http_route("second"))
        await wait_for(lambda: route_names(source) == ["web"], timeout=5)


async def test_a_410_relists_without_losing_state(
    apiserver: ApiServer, kube_api: KubeApi, kube_client: ApiClient
) -> None:
    await kubectl.create(kube_client, kubectl.http_route("a"), kubectl.http_route("b"))
    async with running_source(kube_api) as source:
        seen: list[list[str]] = []
        source.on_status_change.append(lambda: seen.append(route_names(source)))
        watcher = source.watchers[HTTPRoute]
        # While the watch is down: b goes, c comes, and the history is compacted, so the
        # watcher's resourceVersion is gone when it reconnects.
        routes = apiserver.find("HTTPRoute")
        apiserver.drop_watches()
        apiserver.store.delete(routes, "default", "b")
        apiserver.store.create(routes, "default", kubectl.http_route("c"))
        apiserver.store.compact()
        apiserver.notify()
        await wait_for(lambda: route_names(source) == ["a", "c"], timeout=5)
        assert watcher.lists == 2
        assert all("a" in names for names in seen), seen
        list_requests = apiserver.requests_with("list", f"httproutes.{GATEWAY}")
        assert len(list_requests) == 2


async def test_bookmarks_keep_a_quiet_kind_resumable(
    apiserver: ApiServer, kube_api: KubeApi, kube_client: ApiClient
) -> None:
    async with running_source(kube_api) as source:
        watcher = source.watchers[HTTPRoute]
        await kubectl.create(kube_client, *kubectl.service("a"), *kubectl.service("b"))
        # No route changed, yet bookmarks carry the routes' watch to the latest revision...
        await wait_for(lambda: watcher.resource_version == str(apiserver.store.revision), timeout=5)
        # ...so after compaction, a reconnect resumes there instead of relisting.
        apiserver.store.compact()
        apiserver.drop_watches()
        await kubectl.create(kube_client, kubectl.http_route())
        await wait_for(lambda: route_names(source) == ["web"], timeout=5)
        assert watcher.lists == 1


async def test_a_crd_installed_later_is_found() -> None:
    served = without(standard_resources(), "TCPRoute", "UDPRoute")
    tcp_routes = next(r for r in standard_resources() if r.kind == "TCPRoute")
    route = {
        "apiVersion": f"{GATEWAY}/v1alpha2",
        "kind": "TCPRoute",
        "metadata": {"name": "db", "namespace": "default"},
        "spec": {
            "parentRefs": [{"name": "gw"}],
            "rules": [{"backendRefs": [{"name": "db", "port": 5432}]}],
        },
    }
    async with (
        running_apiserver(APISERVER_HOST, served=served, bookmark_interval=0.2) as apiserver,
        ApiClient(client_configuration(apiserver)) as client,
    ):
        api = KubeApi(ApiClient(client_configuration(apiserver)))
        try:
            async with running_source(api) as source:
                assert TCPRoute in {kind.model for kind in source.missing}
                apiserver.install(tcp_routes)
                await kubectl.create(client, route)
                await wait_for(
                    lambda: (
                        len(source.resource_set().tcp_routes) == 1
                        and TCPRoute not in {kind.model for kind in source.missing}
                    ),
                    timeout=5,
                )
        finally:
            await api.close()


@pytest.mark.parametrize(
    ("verb", "status", "expected"),
    [
        ("list", 403, "forbidden: the control plane may not list httproutes."),
        ("watch", 403, "forbidden: the control plane may not watch httproutes."),
        ("list", 401, "not authenticated: the control plane may not list httproutes."),
    ],
)
async def test_refusal_at_start_is_fatal_and_names_the_permission(
    apiserver: ApiServer, kube_api: KubeApi, verb: str, status: int, expected: str
) -> None:
    apiserver.refuse(status, verb, f"httproutes.{GATEWAY}")
    source = KubernetesSource(kube_api, FAST)
    with pytest.raises(PermissionDenied) as refused:
        await source.start()
    assert str(refused.value).startswith(expected + GATEWAY)


async def test_an_invalid_object_is_reported_and_its_last_good_version_kept(
    kube_api: KubeApi, kube_client: ApiClient
) -> None:
    await kubectl.create(kube_client, kubectl.http_route())
    async with running_source(kube_api) as source:
        broken = {"spec": {"rules": [{"backendRefs": [{"name": "echo", "port": 0}]}]}}
        await kubectl.patch(kube_client, kubectl.http_route(), broken)
        await wait_for(lambda: bool(source.problems()), timeout=5)
        (problem,) = source.problems()
        assert problem.startswith("HTTPRoute default/web: spec.rules[0].backendRefs[0].port")
        route = source.resource_set().get(HTTPRoute, "default", "web")
        assert route is not None and route.spec.rules[0].backend_refs[0].port == 80
        await kubectl.delete(kube_client, kubectl.http_route())
        await wait_for(lambda: not source.problems() and not route_names(source), timeout=5)


async def test_only_referenced_secrets_reach_the_resource_set(
    kube_api: KubeApi, kube_client: ApiClient
) -> None:
    https = kubectl.gateway("secure")
    https["spec"]["listeners"] = [
        {
            "name": "https",
            "port": 8443,
            "protocol": "HTTPS",
            "tls": {"certificateRefs": [{"name": "cert"}]},
        }
    ]
    secrets = [kubectl.secret("cert"), kubectl.secret("unrelated")]
    await kubectl.create(kube_client, kubectl.gateway_class(), https, *secrets)
    async with running_source(kube_api) as source:
        assert [s.metadata.name for s in source.resource_set().secrets] == ["cert"]
        revision = source.revision
        unrelated = ObjectId("", "Secret", "default", "unrelated")
        await kubectl.patch(kube_client, kubectl.secret("unrelated"), {"data": {"k": "dg=="}})

        def seen() -> bool:
            found = source.live(unrelated)
            return isinstance(found, Secret) and found.data == {"k": "dg=="}

        await wait_for(seen, timeout=5)
        assert source.revision == revision  # an unreferenced Secret does not retranslate
        await kubectl.patch(kube_client, kubectl.secret("cert"), {"data": {"k": "dg=="}})
        await wait_for(lambda: source.revision > revision, timeout=5)
        assert source.resource_set().secrets[0].data == {"k": "dg=="}


async def test_watch_failures_back_off_with_jitter_then_recover(
    apiserver: ApiServer, kube_api: KubeApi, kube_client: ApiClient
) -> None:
    delays: list[float] = []

    async def sleep(seconds: float) -> None:
        # Every watcher sleeps through this; its task is named after its kind.
        task = asyncio.current_task()
        if task is not None and task.get_name().startswith("HTTPRoute."):
            delays.append(seconds)
        await asyncio.sleep(0.01)

    async with running_source(kube_api, random=lambda: 1.0, sleep=sleep) as source:
        apiserver.refuse(500, "watch", f"httproutes.{GATEWAY}", times=3)
        apiserver.drop_watches()
        await wait_for(lambda: len(delays) >= 3, timeout=5)
        await kubectl.create(kube_client, kubectl.http_route())
        await wait_for(lambda: route_names(source) == ["web"], timeout=5)
    # random() == 1.0 is the top of the jitter range: 1.5 times the exponential base. (When
    # the dropped watch had brought nothing yet, its end is the first failure: same prefix.)
    assert delays[:3] == pytest.approx([0.015, 0.03, 0.06])


def test_backoff_is_exponential_jittered_and_capped() -> None:
    values = iter([0.0, 0.5, 1.0, 0.5, 0.5])
    backoff = Backoff(initial=1.0, maximum=4.0, factor=2.0, jitter=0.5, random=lambda: next(values))
    delays = [backoff.next_delay() for _ in range(5)]
    assert delays == [0.5, 2.0, 6.0, 4.0, 4.0]
    backoff.reset()
    assert backoff.attempts == 0


def test_every_kind_a_resource_set_holds_is_watched_at_its_most_stable_version() -> None:
    kinds = {kind.model: kind for kind in watched_kinds()}
    assert set(kinds) == set(RESOURCE_KINDS)
    assert kinds[TCPRoute].candidates[0] == (GATEWAY, "TCPRoute", "v1")
    assert ("gateway.networking.x-k8s.io", "XListenerSet", "v1alpha1") in kinds[
        ListenerSet
    ].candidates
    ordered = sorted(["v1alpha2", "v1", "v1beta1", "v2", "v1alpha3"], key=version_priority)
    assert ordered[::-1] == ["v2", "v1", "v1beta1", "v1alpha3", "v1alpha2"]
