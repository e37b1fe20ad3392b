"""One kind: list, then watch from the list's resourceVersion, for as long as the source runs.

- A watch that ends (its server-side timeout, jittered so watchers do not all reconnect at
  once) is reopened from the last resourceVersion seen, events and bookmarks alike.
- 410 Expired (the resourceVersion left the server's history) lists again; the list replaces
  the store in one step, so the translator never sees a half-empty cluster.
- Any other failure (network, 5xx, a stream that ends at once) waits a jittered exponential
  backoff and watches again from the last resourceVersion; 401/403 are logged with the verb
  and resource that is missing, and retried the same way (RBAC may be fixed without a restart).
- 404 means the resource itself went away (its CRD was deleted): the store is emptied and the
  watcher ends, for discovery to find the kind again later.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog

from controlplane.sources.kube.api import ApiResource, KubeApi, WatchStream
from controlplane.sources.kube.backoff import Backoff
from controlplane.sources.kube.errors import (
    KubeApiError,
    ObjectNotFound,
    PermissionDenied,
    ResourceExpired,
)
from controlplane.sources.kube.store import Change, KindStore, ObjectKey, Parsed, parse

log = structlog.get_logger("agw.kubernetes")

# Pages of one list: a cluster with more objects than this times the page size is not
# something a single control plane can translate anyway.
MAX_PAGES = 1000


@dataclass(frozen=True)
class WatchSettings:
    # Server-side watch timeout, scaled by a random factor in [1, 2).
    watch_timeout: float = 300.0
    page_size: int = 500


class ResourceRemoved(Exception):
    """The watched resource is no longer served (its CRD was deleted)."""


class KindWatcher:
    def __init__(
        self,
        api: KubeApi,
        resource: ApiResource,
        store: KindStore,
        on_change: Callable[[Change, ObjectKey | None], None],
        settings: WatchSettings,
        backoff: Backoff,
    ) -> None:
        self.api = api
        self.resource = resource
        self.store = store
        self.settings = settings
        self.backoff = backoff
        self.resource_version = ""
        self.lists = 0
        self._on_change = on_change
        self._stream: WatchStream | None = None
        self._needs_list = True

    async def prime(self) -> None:
        """List and open the watch; refusals (401/403) surface here, to fail the start."""
        await self._list()
        self._stream = await self._open()

    async def run(self) -> None:
        """Keep the store current until cancelled; returns when the resource is removed."""
        try:
            while True:
                try:
                    await self._follow()
                except ResourceExpired:
                    log.info("watch expired, listing again", resource=self.resource.name)
                    self._needs_list = True
                except ObjectNotFound:
                    self._on_change(self.store.clear(), None)
                    log.warning("resource no longer served", resource=self.resource.name)
                    return
                except PermissionDenied as error:
                    log.error("permission missing", error=str(error))
                    await self.backoff.wait()
                except KubeApiError as error:
                    log.warning("watch failed", resource=self.resource.name, error=str(error))
                    await self.backoff.wait()
        finally:
            self.close()

    def close(self) -> None:
        """Release a watch opened by ``prime`` that ``run`` did not take over."""
        if self._stream is not None:
            self._stream.close()
            self._stream = None

    async def _follow(self) -> None:
        if self._needs_list:
            await self._list()
        stream, self._stream = self._stream, None
        if stream is None:
            stream = await self._open()
        received = 0
        async for event in stream.events():
            received += 1
            self._apply(event)
        if received:
            self.backoff.reset()
        else:
            # A healthy watch brings bookmarks at least; one that ends empty-handed at once,
            # again and again, would otherwise spin.
            await self.backoff.wait()

    async def _open(self) -> WatchStream:
        timeout = int(self.settings.watch_timeout * (1 + self.backoff.random()))
        return await self.api.watch(self.resource, self.resource_version, max(1, timeout))

    async def _list(self) -> None:
        items: list[dict[str, Any]] = []
        token = ""
        version = ""
        for _ in range(MAX_PAGES):
            page = await self.api.list(self.resource, self.settings.page_size, token)
            metadata = page.get("metadata") or {}
            version = version or str(metadata.get("resourceVersion") or "")
            items.extend(item for item in page.get("items") or () if isinstance(item, dict))
            token = str(metadata.get("continue") or "")
            if not token:
                break
        for item in items:
            # List items of built-in kinds come without apiVersion and kind.
            item.setdefault("apiVersion", self.resource.api_version)
            item.setdefault("kind", self.resource.kind)
        parsed = await asyncio.get_running_loop().run_in_executor(None, _parse_all, items)
        change = self.store.replace_all(parsed)
        self.resource_version = version
        self.lists += 1
        self._needs_list = False
        self.backoff.reset()
        self._on_change(change, None)

    def _apply(self, event: dict[str, Any]) -> None:
        obj = event.get("object")
        if not isinstance(obj, dict):
            return
        version = (obj.get("metadata") or {}).get("resourceVersion")
        if version:
            self.resource_version = str(version)
        kind = event.get("type")
        if kind == "BOOKMARK":
            return
        obj.setdefault("apiVersion", self.resource.api_version)
        obj.setdefault("kind", self.resource.kind)
        meta = obj.get("metadata") or {}
        key = (str(meta.get("namespace") or ""), str(meta.get("name") or ""))
        change = self.store.remove(key) if kind == "DELETED" else self.store.upsert(parse(obj))
        if change:
            self._on_change(change, key)


def _parse_all(items: list[dict[str, Any]]) -> list[Parsed]:
    return [parse(item) for item in items]
