"""Plain-JSON access to the API objects the deployer manages, through kubernetes-asyncio.

The generated typed clients turn objects into model classes and back, which loses nothing
but costs a translation layer for each of six kinds; the deployer works on the same dicts it
renders, so it calls the REST paths directly with the client's configuration and auth.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from kubernetes_asyncio.client import ApiClient
from kubernetes_asyncio.client.exceptions import ApiException

Manifest = dict[str, Any]
_JSON = {"Accept": "application/json", "Content-Type": "application/json"}
_PAGE = 500
_MAX_PAGES = 1000


@dataclass(frozen=True)
class ApiResource:
    api_version: str
    kind: str
    plural: str

    def path(self, namespace: str | None = None, name: str | None = None) -> str:
        group, _, version = self.api_version.rpartition("/")
        path = f"/apis/{group}/{version}" if group else f"/api/{version}"
        if namespace is not None:
            path += f"/namespaces/{namespace}"
        path += f"/{self.plural}"
        return f"{path}/{name}" if name is not None else path


# Every kind the deployer writes, in the order a Gateway's objects are applied.
PROVISIONED: tuple[ApiResource, ...] = (
    ApiResource("v1", "ServiceAccount", "serviceaccounts"),
    ApiResource("v1", "ConfigMap", "configmaps"),
    ApiResource("v1", "Service", "services"),
    ApiResource("apps/v1", "Deployment", "deployments"),
    ApiResource("autoscaling/v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers"),
    ApiResource("policy/v1", "PodDisruptionBudget", "poddisruptionbudgets"),
)
_BY_KIND = {(item.api_version, item.kind): item for item in PROVISIONED}


def resource_of(manifest: Mapping[str, Any]) -> ApiResource:
    return _BY_KIND[(manifest["apiVersion"], manifest["kind"])]


class KubeObjects:
    """get, list, create, replace and delete, on JSON objects; errors are ApiException."""

    def __init__(self, api: ApiClient) -> None:
        self.api = api

    async def list_matching(self, resource: ApiResource, label_selector: str) -> list[Manifest]:
        """Every object in every namespace that matches ``label_selector``."""
        items: list[Manifest] = []
        token = ""
        for _ in range(_MAX_PAGES):
            query: list[tuple[str, Any]] = [("labelSelector", label_selector), ("limit", _PAGE)]
            if token:
                query.append(("continue", token))
            page = await self._call("GET", resource.path(), query=query)
            for item in page.get("items") or []:
                # List items leave out apiVersion and kind; the rest of the deployer wants them.
                items.append({"apiVersion": resource.api_version, "kind": resource.kind, **item})
            token = str((page.get("metadata") or {}).get("continue") or "")
            if not token:
                return items
        raise RuntimeError(f"listing {resource.plural} did not end after {_MAX_PAGES} pages")

    async def create(self, manifest: Manifest) -> Manifest:
        resource = resource_of(manifest)
        namespace = manifest["metadata"]["namespace"]
        return await self._call("POST", resource.path(namespace), body=manifest)

    async def replace(self, manifest: Manifest) -> Manifest:
        resource = resource_of(manifest)
        meta = manifest["metadata"]
        return await self._call("PUT", resource.path(meta["namespace"], meta["name"]), manifest)

    async def delete(self, manifest: Mapping[str, Any]) -> None:
        """Delete, letting the garbage collector remove dependents; gone already is fine."""
        resource = resource_of(manifest)
        meta = manifest["metadata"]
        body = {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": "Background"}
        try:
            await self._call("DELETE", resource.path(meta["namespace"], meta["name"]), body)
        except ApiException as error:
            if error.status != 404:
                raise

    async def _call(
        self,
        method: str,
        path: str,
        body: Any = None,
        query: list[tuple[str, Any]] | None = None,
    ) -> Manifest:
        answer = await self.api.call_api(
            path,
            method,
            query_params=query or [],
            header_params=dict(_JSON),
            body=body,
            response_types_map={200: "object", 201: "object", 202: "object"},
            auth_settings=["BearerToken"],
            _return_http_data_only=True,
        )
        return cast(Manifest, answer or {})
