"""The few Kubernetes API calls agw makes, on kubernetes-asyncio's ApiClient.

Objects stay plain JSON dicts (the translator's models parse them); paths are built from an
``ApiResource`` so that one code path serves core kinds, Gateway API CRDs and leases alike.
Errors become the classes of ``errors.py``, each naming the verb and the resource.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from kubernetes_asyncio import config as kube_config
from kubernetes_asyncio.client import ApiClient, Configuration
from kubernetes_asyncio.client.exceptions import ApiException

from controlplane.sources.kube.errors import (
    KubeApiError,
    KubeConfigError,
    ObjectConflict,
    ObjectNotFound,
    PermissionDenied,
    ResourceExpired,
)

Object = dict[str, Any]
MERGE_PATCH = "application/merge-patch+json"
REQUEST_TIMEOUT_SECONDS = 30.0
# A watch's read timeout is its server-side timeout plus this.
WATCH_READ_MARGIN_SECONDS = 30.0


@dataclass(frozen=True)
class ApiResource:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def name(self) -> str:
        """As RBAC spells it, for messages: "httproutes.gateway.networking.k8s.io"."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def path(
        self, namespace: str | None = None, name: str | None = None, subresource: str = ""
    ) -> str:
        root = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            root += f"/namespaces/{namespace}"
        parts = [root, self.plural, *(part for part in (name, subresource) if part)]
        return "/".join(parts)


def group_version_path(group: str, version: str) -> str:
    return f"/apis/{group}/{version}" if group else f"/api/{version}"


async def load_configuration(kubeconfig: Path | None) -> Configuration:
    """The kubeconfig's current context, or the pod's service account when there is none."""
    configuration = Configuration()
    try:
        if kubeconfig is not None:
            await kube_config.load_kube_config(
                config_file=str(kubeconfig), client_configuration=configuration
            )
        else:
            kube_config.load_incluster_config(  # type: ignore[no-untyped-call]
                client_configuration=configuration
            )
    except (kube_config.ConfigException, OSError, ValueError) as error:
        where = kubeconfig or "the in-cluster configuration"
        raise KubeConfigError(f"cannot load {where}: {error}") from error
    return configuration


class KubeApi:
    def __init__(self, client: ApiClient) -> None:
        self.client = client

    @classmethod
    async def connect(cls, kubeconfig: Path | None = None) -> KubeApi:
        return cls(ApiClient(await load_configuration(kubeconfig)))

    async def close(self) -> None:
        await self.client.close()

    async def get(self, path: str, verb: str, resource: str) -> Object:
        return await self._call("GET", path, verb, resource)

    async def list(self, resource: ApiResource, limit: int, continue_token: str = "") -> Object:
        query = {"limit": str(limit), **({"continue": continue_token} if continue_token else {})}
        return await self._call("GET", resource.path(), "list", resource.name, query=query)

    async def create(self, resource: ApiResource, namespace: str | None, body: Object) -> Object:
        path = resource.path(namespace)
        return await self._call("POST", path, "create", resource.name, body=body)

    async def replace(
        self, resource: ApiResource, namespace: str | None, name: str, body: Object
    ) -> Object:
        path = resource.path(namespace, name)
        return await self._call("PUT", path, "update", resource.name, body=body)

    async def patch_status(
        self, resource: ApiResource, namespace: str | None, name: str, patch: Object
    ) -> Object:
        path = resource.path(namespace, name, "status")
        headers = {"Content-Type": MERGE_PATCH}
        return await self._call(
            "PATCH", path, "patch", f"{resource.name}/status", body=patch, headers=headers
        )

    async def watch(
        self, resource: ApiResource, resource_version: str, timeout_seconds: int
    ) -> WatchStream:
        """Open a watch from ``resource_version`` (with bookmarks); raises on a refusal."""
        query = {
            "watch": "true",
            "resourceVersion": resource_version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(timeout_seconds),
        }
        timeout = aiohttp.ClientTimeout(
            connect=REQUEST_TIMEOUT_SECONDS,
            sock_connect=REQUEST_TIMEOUT_SECONDS,
            sock_read=timeout_seconds + WATCH_READ_MARGIN_SECONDS,
        )
        try:
            response = await self.client.call_api(
                resource.path(),
                "GET",
                query_params=list(query.items()),
                header_params={"Accept": "application/json"},
                auth_settings=["BearerToken"],
                _preload_content=False,
                _request_timeout=timeout,
            )
        except (aiohttp.ClientError, TimeoutError, OSError) as error:
            raise KubeApiError(0, "watch", resource.name, str(error) or repr(error)) from error
        if response.status != 200:
            body = await response.text()
            response.release()
            raise api_error(response.status, body, "watch", resource.name)
        return WatchStream(response, resource)

    async def _call(
        self,
        method: str,
        path: str,
        verb: str,
        resource: str,
        *,
        query: Mapping[str, str] | None = None,
        body: Object | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Object:
        try:
            result = await self.client.call_api(
                path,
                method,
                query_params=list((query or {}).items()),
                header_params={"Accept": "application/json", **(headers or {})},
                body=body,
                auth_settings=["BearerToken"],
                response_types_map={200: "object", 201: "object"},
                _return_http_data_only=True,
                _request_timeout=REQUEST_TIMEOUT_SECONDS,
            )
        except ApiException as error:
            raise api_error(error.status or 0, error.body, verb, resource) from None
        except (aiohttp.ClientError, TimeoutError, OSError) as error:
            raise KubeApiError(0, verb, resource, str(error) or repr(error)) from error
        if not isinstance(result, dict):
            raise KubeApiError(0, verb, resource, "the answer is not a JSON object")
        return result


class WatchStream:
    """The events of one open watch; iteration ends when the server closes the stream."""

    def __init__(self, response: aiohttp.ClientResponse, resource: ApiResource) -> None:
        self._response = response
        self._resource = resource

    def close(self) -> None:
        self._response.release()

    async def events(self) -> AsyncIterator[Object]:
        """Each event as a dict; an ERROR event raises (410 as ResourceExpired)."""
        name = self._resource.name
        try:
            while True:
                line = await self._response.content.readline()
                if not line:
                    return
                if not line.strip():
                    continue
                event = json.loads(line)
                if not isinstance(event, dict) or "type" not in event:
                    raise KubeApiError(0, "watch", name, f"not a watch event: {line[:200]!r}")
                if event["type"] == "ERROR":
                    status = event.get("object") or {}
                    raise api_error(int(status.get("code") or 0), status, "watch", name)
                yield event
        except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as error:
            raise KubeApiError(0, "watch", name, str(error) or repr(error)) from error
        finally:
            self.close()


def api_error(status: int, body: object, verb: str, resource: str) -> KubeApiError:
    """The error class for an HTTP status, with the Status message when there is one."""
    message = ""
    if isinstance(body, (str, bytes)):
        try:
            body = json.loads(body)
        except ValueError:
            message = str(body)[:300]
    if isinstance(body, dict):
        message = str(body.get("message") or body.get("reason") or "")
    kind: type[KubeApiError] = {
        401: PermissionDenied,
        403: PermissionDenied,
        404: ObjectNotFound,
        409: ObjectConflict,
        410: ResourceExpired,
    }.get(status, KubeApiError)
    return kind(status, verb, resource, message)
