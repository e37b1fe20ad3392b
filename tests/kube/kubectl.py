"""What a user does to the cluster in these tests: create, merge-patch and delete manifests,
through kubernetes-asyncio's ApiClient (the typed API classes want typed models; these
tests speak plain manifests). Also the manifests of a small working setup."""

from __future__ import annotations

from typing import Any

from kubernetes_asyncio.client import ApiClient

from tests.kube.resources import GATEWAY, ResourceType, standard_resources

Manifest = dict[str, Any]
CONTROLLER = "agentgateway.dev/agentgateway"
_BY_KIND = {resource.kind: resource for resource in standard_resources()}


def _path(manifest: Manifest, named: bool, subresource: str = "") -> str:
    resource: ResourceType = _BY_KIND[manifest["kind"]]
    version = manifest["apiVersion"].rpartition("/")[2]
    root = f"/apis/{resource.group}/{version}" if resource.group else f"/api/{version}"
    meta = manifest["metadata"]
    if resource.namespaced:
        root += f"/namespaces/{meta.get('namespace', 'default')}"
    parts = [root, resource.plural]
    if named:
        parts.append(meta["name"])
    if subresource:
        parts.append(subresource)
    return "/".join(parts)


async def _call(
    client: ApiClient, method: str, path: str, body: Any = None, content_type: str = ""
) -> Manifest:
    headers = {"Content-Type": content_type} if content_type else {}
    result: Manifest = await client.call_api(
        path,
        method,
        header_params=headers,
        body=body,
        auth_settings=["BearerToken"],
        response_types_map={200: "object", 201: "object"},
        _return_http_data_only=True,
    )
    return result


async def create(client: ApiClient, *manifests: Manifest) -> list[Manifest]:
    return [await _call(client, "POST", _path(m, named=False), m) for m in manifests]


async def patch(
    client: ApiClient, manifest: Manifest, changes: Manifest, subresource: str = ""
) -> Manifest:
    """A JSON merge patch of the object ``manifest`` names."""
    path = _path(manifest, named=True, subresource=subresource)
    return await _call(client, "PATCH", path, changes, "application/merge-patch+json")


async def delete(client: ApiClient, manifest: Manifest) -> Manifest:
    return await _call(client, "DELETE", _path(manifest, named=True))


async def read(client: ApiClient, manifest: Manifest) -> Manifest:
    return await _call(client, "GET", _path(manifest, named=True))


def gateway_class(name: str = "agw", controller: str = CONTROLLER) -> Manifest:
    return {
        "apiVersion": f"{GATEWAY}/v1",
        "kind": "GatewayClass",
        "metadata": {"name": name},
        "spec": {"controllerName": controller},
    }


def gateway(name: str = "gw", class_name: str = "agw", port: int = 8080) -> Manifest:
    return {
        "apiVersion": f"{GATEWAY}/v1",
        "kind": "Gateway",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "gatewayClassName": class_name,
            "listeners": [{"name": "http", "port": port, "protocol": "HTTP"}],
        },
    }


def http_route(
    name: str = "web", parents: tuple[str, ...] = ("gw",), service: str = "echo"
) -> Manifest:
    return {
        "apiVersion": f"{GATEWAY}/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "parentRefs": [{"name": parent} for parent in parents],
            "rules": [{"backendRefs": [{"name": service, "port": 80}]}],
        },
    }


def service(name: str = "echo", address: str = "127.0.21.50", port: int = 9000) -> list[Manifest]:
    """A Service and its EndpointSlice."""
    return [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"ports": [{"name": "http", "port": 80, "targetPort": port}]},
        },
        {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "name": f"{name}-1",
                "namespace": "default",
                "labels": {"kubernetes.io/service-name": name},
            },
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": port}],
            "endpoints": [{"addresses": [address]}],
        },
    ]


def namespace(name: str = "default") -> Manifest:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def secret(name: str, data: dict[str, str] | None = None) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": "default"},
        "type": "Opaque",
        "data": data or {},
    }


def working_setup() -> list[Manifest]:
    """A GatewayClass of ours, a Gateway, a Service with an endpoint and a route to it."""
    return [namespace(), gateway_class(), gateway(), *service(), http_route()]


def listener_set(name: str = "extra", parent: str = "gw", port: int = 9090) -> Manifest:
    """A ListenerSet adding one HTTP listener to ``parent`` (which must allow it)."""
    return {
        "apiVersion": f"{GATEWAY}/v1",
        "kind": "ListenerSet",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "parentRef": {"name": parent},
            "listeners": [{"name": "extra", "port": port, "protocol": "HTTP"}],
        },
    }


def backend_tls_policy(name: str = "tls", service: str = "echo") -> Manifest:
    return {
        "apiVersion": f"{GATEWAY}/v1",
        "kind": "BackendTLSPolicy",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "targetRefs": [{"group": "", "kind": "Service", "name": service}],
            "validation": {"hostname": f"{service}.example", "wellKnownCACertificates": "System"},
        },
    }
