"""The emulated API server's semantics, each behaviour the control plane relies on proven on
its own, through kubernetes-asyncio as production talks to a cluster: object metadata on
create, monotonic resourceVersions, generation, the status subresource, 409 on stale writes,
no-op writes, list resourceVersion and pagination, watch from a resourceVersion, 410 when it
is too old, bookmarks, discovery of the Gateway API v1.6, agentgateway.dev and built-in
groups, a missing CRD, 401/403 injection, cascading deletion and TokenReview.

Left out (the emulator does not model them): finalizers, server-side apply, admission and
schema validation, watch caches' consistent reads."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from kubernetes_asyncio.client import (
    ApiClient,
    ApisApi,
    AuthenticationV1Api,
    CoreV1Api,
    CustomObjectsApi,
    V1Namespace,
    V1ObjectMeta,
    V1OwnerReference,
    V1Service,
    V1ServiceAccount,
    V1TokenReview,
    V1TokenReviewSpec,
)
from kubernetes_asyncio.client.exceptions import ApiException
from kubernetes_asyncio.watch import Watch

from tests.kube.apiserver import ApiServer, running_apiserver
from tests.kube.conftest import APISERVER_HOST, client_configuration
from tests.kube.resources import GATEWAY, standard_resources, without

MERGE = "application/merge-patch+json"


def gateway(name: str, class_name: str = "agw") -> dict[str, Any]:
    return {
        "apiVersion": f"{GATEWAY}/v1",
        "kind": "Gateway",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"gatewayClassName": class_name, "listeners": []},
    }


async def create_gateway(client: ApiClient, name: str) -> dict[str, Any]:
    api = CustomObjectsApi(client)
    created: dict[str, Any] = await api.create_namespaced_custom_object(
        GATEWAY, "v1", "default", "gateways", gateway(name)
    )
    return created


async def patch_gateway(
    client: ApiClient, name: str, patch: dict[str, Any], *, status: bool = False
) -> dict[str, Any]:
    api = CustomObjectsApi(client)
    call = (
        api.patch_namespaced_custom_object_status if status else api.patch_namespaced_custom_object
    )
    # The client's stubs leave out _content_type; without it the client sends a JSON patch.
    options: dict[str, Any] = {"_content_type": MERGE}
    patched: dict[str, Any] = await call(
        GATEWAY, "v1", "default", "gateways", name, patch, **options
    )
    return patched


async def test_create_sets_uid_creation_timestamp_generation_and_version(
    kube_client: ApiClient,
) -> None:
    created = await create_gateway(kube_client, "web")
    meta = created["metadata"]
    assert meta["uid"] and meta["creationTimestamp"].endswith("Z")
    assert meta["generation"] == 1
    assert int(meta["resourceVersion"]) > 0
    namespace = await CoreV1Api(kube_client).create_namespace(
        V1Namespace(metadata=V1ObjectMeta(name="team"))
    )
    assert namespace.metadata.uid and namespace.metadata.creation_timestamp is not None


async def test_resource_versions_increase_across_kinds(kube_client: ApiClient) -> None:
    core = CoreV1Api(kube_client)
    versions = [int((await create_gateway(kube_client, "a"))["metadata"]["resourceVersion"])]
    service = await core.create_namespaced_service(
        "default", V1Service(metadata=V1ObjectMeta(name="svc"))
    )
    versions.append(int(service.metadata.resource_version))
    patched = await patch_gateway(kube_client, "a", {"spec": {"gatewayClassName": "other"}})
    versions.append(int(patched["metadata"]["resourceVersion"]))
    assert versions == sorted(set(versions))


async def test_generation_follows_spec_not_metadata_or_status(kube_client: ApiClient) -> None:
    await create_gateway(kube_client, "web")
    labelled = await patch_gateway(kube_client, "web", {"metadata": {"labels": {"a": "b"}}})
    assert labelled["metadata"]["generation"] == 1
    with_status = await patch_gateway(kube_client, "web", {"status": {"x": 1}}, status=True)
    assert with_status["metadata"]["generation"] == 1
    changed = await patch_gateway(kube_client, "web", {"spec": {"gatewayClassName": "other"}})
    assert changed["metadata"]["generation"] == 2


async def test_status_subresource_changes_only_status(kube_client: ApiClient) -> None:
    await create_gateway(kube_client, "web")
    patch = {"spec": {"gatewayClassName": "ignored"}, "status": {"conditions": [{"type": "A"}]}}
    through_status = await patch_gateway(kube_client, "web", patch, status=True)
    assert through_status["spec"]["gatewayClassName"] == "agw"
    assert through_status["status"] == {"conditions": [{"type": "A"}]}
    through_main = await patch_gateway(kube_client, "web", {"status": {"conditions": []}})
    assert through_main["status"] == {"conditions": [{"type": "A"}]}


async def test_stale_resource_version_is_a_conflict(kube_client: ApiClient) -> None:
    api = CustomObjectsApi(kube_client)
    stale = await create_gateway(kube_client, "web")
    await patch_gateway(kube_client, "web", {"spec": {"gatewayClassName": "other"}})
    with pytest.raises(ApiException) as replaced:
        await api.replace_namespaced_custom_object(
            GATEWAY, "v1", "default", "gateways", "web", stale
        )
    assert replaced.value.status == 409
    precondition = {"metadata": {"resourceVersion": stale["metadata"]["resourceVersion"]}}
    with pytest.raises(ApiException) as patched:
        await patch_gateway(kube_client, "web", {**precondition, "status": {"x": 1}}, status=True)
    assert patched.value.status == 409


async def test_unchanged_write_is_not_a_write(kube_client: ApiClient) -> None:
    created = await create_gateway(kube_client, "web")
    same = await patch_gateway(kube_client, "web", {"spec": {"gatewayClassName": "agw"}})
    assert same["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]


async def test_list_reports_the_current_resource_version(kube_client: ApiClient) -> None:
    await create_gateway(kube_client, "a")
    last = await create_gateway(kube_client, "b")
    listed = await CustomObjectsApi(kube_client).list_namespaced_custom_object(
        GATEWAY, "v1", "default", "gateways"
    )
    assert listed["metadata"]["resourceVersion"] == last["metadata"]["resourceVersion"]
    assert [item["metadata"]["name"] for item in listed["items"]] == ["a", "b"]


async def test_list_paginates_with_continue(kube_client: ApiClient) -> None:
    for name in ("a", "b", "c"):
        await create_gateway(kube_client, name)
    api = CustomObjectsApi(kube_client)
    first = await api.list_namespaced_custom_object(GATEWAY, "v1", "default", "gateways", limit=2)
    token = first["metadata"]["continue"]
    rest = await api.list_namespaced_custom_object(
        GATEWAY, "v1", "default", "gateways", limit=2, _continue=token
    )
    names = [item["metadata"]["name"] for item in first["items"] + rest["items"]]
    assert names == ["a", "b", "c"] and "continue" not in rest["metadata"]


async def watch_events(
    client: ApiClient, count: int, timeout: float = 5.0, **params: Any
) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    api = CustomObjectsApi(client)
    async with Watch() as watch:
        stream = watch.stream(
            api.list_namespaced_custom_object, GATEWAY, "v1", "default", "gateways", **params
        )
        async with asyncio.timeout(timeout):
            async for event in stream:
                events.append(event)
                if len(events) == count:
                    break
    return events


async def test_watch_without_version_starts_with_every_object(kube_client: ApiClient) -> None:
    await create_gateway(kube_client, "a")
    events = await watch_events(kube_client, 1)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "a")]


async def test_watch_from_a_version_replays_later_events(kube_client: ApiClient) -> None:
    first = await create_gateway(kube_client, "a")
    await create_gateway(kube_client, "b")
    await patch_gateway(kube_client, "a", {"spec": {"gatewayClassName": "other"}})
    await CustomObjectsApi(kube_client).delete_namespaced_custom_object(
        GATEWAY, "v1", "default", "gateways", "b"
    )
    since = first["metadata"]["resourceVersion"]
    events = await watch_events(kube_client, 3, resource_version=since)
    seen = [(e["type"], e["object"]["metadata"]["name"]) for e in events]
    assert seen == [("ADDED", "b"), ("MODIFIED", "a"), ("DELETED", "b")]


async def test_watch_from_a_compacted_version_is_gone(
    apiserver: ApiServer, kube_client: ApiClient
) -> None:
    first = await create_gateway(kube_client, "a")
    await create_gateway(kube_client, "b")
    apiserver.store.compact()
    with pytest.raises(ApiException) as gone:
        await watch_events(kube_client, 1, resource_version=first["metadata"]["resourceVersion"])
    assert gone.value.status == 410


async def test_watch_sends_bookmarks_with_the_latest_version(kube_client: ApiClient) -> None:
    created = await create_gateway(kube_client, "a")
    since = created["metadata"]["resourceVersion"]
    events = await watch_events(kube_client, 1, resource_version=since, allow_watch_bookmarks=True)
    assert events[0]["type"] == "BOOKMARK"
    assert events[0]["raw_object"]["metadata"]["resourceVersion"] == since


async def test_discovery_serves_the_groups_agw_reads(kube_client: ApiClient) -> None:
    groups = {g.name: g for g in (await ApisApi(kube_client).get_api_versions()).groups}
    assert groups[GATEWAY].preferred_version.version == "v1"
    for group in ("agentgateway.dev", "discovery.k8s.io", "coordination.k8s.io"):
        assert group in groups
    custom = CustomObjectsApi(kube_client)
    served = await custom.get_api_resources(GATEWAY, "v1")
    kinds = {r.kind for r in served.resources if "/" not in r.name}
    assert {"Gateway", "HTTPRoute", "GRPCRoute", "TLSRoute", "ListenerSet"} <= kinds
    assert "gateways/status" in {r.name for r in served.resources}
    alpha = await custom.get_api_resources(GATEWAY, "v1alpha2")
    assert {"TCPRoute", "UDPRoute"} <= {r.kind for r in alpha.resources}
    core = await CoreV1Api(kube_client).get_api_resources()
    assert {"Namespace", "Service", "Secret", "ConfigMap"} <= {r.kind for r in core.resources}


async def test_a_crd_that_is_not_installed_is_not_found() -> None:
    served = without(standard_resources(), "TCPRoute", "UDPRoute", "TLSRoute")
    async with (
        running_apiserver(APISERVER_HOST, served=served) as api,
        ApiClient(client_configuration(api)) as client,
    ):
        custom = CustomObjectsApi(client)
        with pytest.raises(ApiException) as discovery:
            await custom.get_api_resources(GATEWAY, "v1alpha2")
        assert discovery.value.status == 404
        with pytest.raises(ApiException) as listing:
            await custom.list_cluster_custom_object(GATEWAY, "v1alpha2", "tcproutes")
        assert listing.value.status == 404


async def test_refusals_answer_401_and_403(apiserver: ApiServer, kube_client: ApiClient) -> None:
    apiserver.refuse(403, "list", f"httproutes.{GATEWAY}")
    custom = CustomObjectsApi(kube_client)
    with pytest.raises(ApiException) as forbidden:
        await custom.list_cluster_custom_object(GATEWAY, "v1", "httproutes")
    assert forbidden.value.status == 403
    await custom.list_cluster_custom_object(GATEWAY, "v1", "gateways")  # others still served
    apiserver.require_token("secret")
    with pytest.raises(ApiException) as unauthorized:
        await custom.list_cluster_custom_object(GATEWAY, "v1", "gateways")
    assert unauthorized.value.status == 401
    async with ApiClient(client_configuration(apiserver, token="secret")) as client:
        await CustomObjectsApi(client).list_cluster_custom_object(GATEWAY, "v1", "gateways")


async def test_deleting_an_owner_deletes_what_it_owns(kube_client: ApiClient) -> None:
    owner = await create_gateway(kube_client, "web")
    reference = V1OwnerReference(
        api_version=f"{GATEWAY}/v1", kind="Gateway", name="web", uid=owner["metadata"]["uid"]
    )
    core = CoreV1Api(kube_client)
    meta = V1ObjectMeta(name="web-proxy", owner_references=[reference])
    await core.create_namespaced_service_account("default", V1ServiceAccount(metadata=meta))
    await CustomObjectsApi(kube_client).delete_namespaced_custom_object(
        GATEWAY, "v1", "default", "gateways", "web"
    )
    with pytest.raises(ApiException) as gone:
        await core.read_namespaced_service_account("web-proxy", "default")
    assert gone.value.status == 404


async def test_token_review_authenticates_issued_tokens(
    apiserver: ApiServer, kube_client: ApiClient
) -> None:
    token = apiserver.issue_token("infra", "web-proxy", "agw")
    api = AuthenticationV1Api(kube_client)
    good = await api.create_token_review(
        V1TokenReview(spec=V1TokenReviewSpec(token=token, audiences=["agw"]))
    )
    assert good.status.authenticated
    assert good.status.user.username == "system:serviceaccount:infra:web-proxy"
    bad = await api.create_token_review(V1TokenReview(spec=V1TokenReviewSpec(token="forged")))
    assert not bad.status.authenticated
