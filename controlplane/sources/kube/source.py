"""The Kubernetes source: a store per kind kept current by list+watch, published as one
ResourceSet.

Start-up discovers which kinds the cluster serves, lists each and opens its watch; a 401 or
403 there is fatal (``PermissionDenied`` names the verb and resource that is missing), so a
control plane without RBAC fails at once rather than serving an empty configuration. A kind
whose CRD is not installed is skipped with a warning and looked for again every
``rediscovery_interval``; one whose CRD disappears later is emptied and looked for again.

Level-triggered: a change that matters to the translator sets ``changed()``; whoever waits
on it reads ``resource_set()``, which is the latest state however many events arrived in
between (bursts coalesce). Status-only changes (our own status writes coming back through
the watch) do not wake the translator; they call ``on_status_change`` instead.

Secrets and ConfigMaps: every one is watched (one watch each, cluster-wide) but the
ResourceSet carries only those an object refers to (``references.py``). Watching all and
filtering here keeps a reference that appears later instantly resolvable, with no per-name
requests; a field selector cannot express "the names referenced", and one watch per
referenced name would not scale. A change to an unreferenced one is ignored.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import structlog

from controlplane.sources.kube.api import ApiResource, KubeApi
from controlplane.sources.kube.backoff import Backoff
from controlplane.sources.kube.errors import KubeApiError, PermissionDenied
from controlplane.sources.kube.kinds import Discovery, WatchedKind, watched_kinds
from controlplane.sources.kube.references import Reference, referenced
from controlplane.sources.kube.store import Change, KindStore, ObjectKey
from controlplane.sources.kube.watcher import KindWatcher, WatchSettings
from translator.gatewayapi.status import ObjectId
from translator.model import SERVED_KINDS, ConfigMap, Resource, Secret
from translator.resources import ResourceSet

log = structlog.get_logger("agw.kubernetes")

_REFERENCED_ONLY: dict[type[Resource], str] = {Secret: "Secret", ConfigMap: "ConfigMap"}
_REFERENCED_MODELS = {kind: model for model, kind in _REFERENCED_ONLY.items()}


@dataclass(frozen=True)
class SourceSettings:
    watch: WatchSettings = field(default_factory=WatchSettings)
    rediscovery_interval: float = 30.0
    # Transient failures (not refusals) at start-up are retried this many times.
    start_attempts: int = 5
    backoff_initial: float = 0.5
    backoff_maximum: float = 30.0


class KubernetesSource:
    def __init__(
        self,
        api: KubeApi,
        settings: SourceSettings | None = None,
        *,
        kinds: list[WatchedKind] | None = None,
        random: Callable[[], float] = random.random,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.api = api
        self.settings = settings or SourceSettings()
        self.kinds = kinds if kinds is not None else watched_kinds()
        self.watchers: dict[type[Resource], KindWatcher] = {}
        self.missing: list[WatchedKind] = []
        # Called after a change to an object's status (a new object counts).
        self.on_status_change: list[Callable[[], None]] = []
        self._random = random
        self._sleep = sleep
        # Goes up with every change the translator will see (tests and metrics read it).
        self.revision = 0
        self._stores = {kind.model: KindStore() for kind in self.kinds}
        self._dirty = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._rediscovery: asyncio.Task[None] | None = None
        self._cached: ResourceSet | None = None
        self._references: set[Reference] = set()

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        backoff = self._backoff()
        for attempt in range(1, self.settings.start_attempts + 1):
            try:
                found = await self._discover(self.kinds)
                await self._start_watchers(found)
                break
            except PermissionDenied:
                raise
            except KubeApiError as error:
                if attempt == self.settings.start_attempts:
                    raise
                log.warning("kubernetes not ready, retrying", error=str(error), attempt=attempt)
                await backoff.wait()
        self.missing = [kind for kind in self.kinds if kind not in found]
        for kind in self.missing:
            log.warning("kind not served (CRD not installed?); will look again", kind=kind.label)
        self._ensure_rediscovery()

    async def stop(self) -> None:
        tasks = [*self._tasks, *([self._rediscovery] if self._rediscovery else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        self._rediscovery = None

    async def changed(self) -> None:
        await self._dirty.wait()
        self._dirty.clear()

    # --- what the pipeline and the status writer read ----------------------------------------

    def resource_set(self) -> ResourceSet:
        if self._cached is None:
            objects = [
                obj
                for model, store in self._stores.items()
                if model not in _REFERENCED_ONLY
                for obj in store.objects()
            ]
            self._references = referenced(objects)
            for kind, namespace, name in sorted(self._references):
                store = self._stores.get(_REFERENCED_MODELS[kind])
                found = store.get(namespace, name) if store is not None else None
                if found is not None:
                    objects.append(found)
            self._cached = ResourceSet.from_objects(objects)
        return self._cached

    def problems(self) -> list[str]:
        return [problem for store in self._stores.values() for problem in store.problems()]

    def live(self, object_id: ObjectId) -> Resource | None:
        """The object as last seen in the cluster (with its status), or None."""
        model = _model_of(object_id)
        store = self._stores.get(model) if model is not None else None
        return store.get(object_id.namespace, object_id.name) if store is not None else None

    def resource_of(self, object_id: ObjectId) -> ApiResource | None:
        """Where the object is served (group, version, plural), or None if not watched."""
        model = _model_of(object_id)
        watcher = self.watchers.get(model) if model is not None else None
        return watcher.resource if watcher is not None else None

    # --- internals ---------------------------------------------------------------------------

    async def _discover(self, kinds: list[WatchedKind]) -> dict[WatchedKind, ApiResource]:
        discovery = Discovery(self.api)
        found: dict[WatchedKind, ApiResource] = {}
        for kind in kinds:
            resource = await discovery.resolve(kind)
            if resource is not None:
                found[kind] = resource
        return found

    async def _start_watchers(self, resolved: dict[WatchedKind, ApiResource]) -> None:
        watchers = {
            kind: KindWatcher(
                self.api,
                resource,
                self._stores[kind.model],
                self._on_change_of(kind.model),
                self.settings.watch,
                self._backoff(),
            )
            for kind, resource in resolved.items()
        }
        results = await asyncio.gather(
            *(watcher.prime() for watcher in watchers.values()), return_exceptions=True
        )
        failures = [result for result in results if isinstance(result, BaseException)]
        if failures:
            for watcher in watchers.values():
                watcher.close()
            denied = [error for error in failures if isinstance(error, PermissionDenied)]
            raise (denied or failures)[0]
        for kind, watcher in watchers.items():
            self.watchers[kind.model] = watcher
            task = asyncio.create_task(self._run_watcher(kind, watcher), name=kind.label)
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            log.info("watching", resource=watcher.resource.name, objects=len(watcher.store))

    async def _run_watcher(self, kind: WatchedKind, watcher: KindWatcher) -> None:
        await watcher.run()
        # The resource went away; look for it again like a kind that was never there.
        self.watchers.pop(kind.model, None)
        self.missing.append(kind)
        self._ensure_rediscovery()

    def _ensure_rediscovery(self) -> None:
        if self.missing and (self._rediscovery is None or self._rediscovery.done()):
            self._rediscovery = asyncio.create_task(self._rediscover(), name="rediscovery")

    async def _rediscover(self) -> None:
        while self.missing:
            await self._sleep(self.settings.rediscovery_interval)
            try:
                found = await self._discover(list(self.missing))
                await self._start_watchers(found)
            except KubeApiError as error:
                log.warning("rediscovery failed", error=str(error))
                continue
            self.missing = [kind for kind in self.missing if kind not in found]
            for kind in found:
                log.info("kind now served", kind=kind.label)

    def _on_change_of(self, model: type[Resource]) -> Callable[[Change, ObjectKey | None], None]:
        kind = _REFERENCED_ONLY.get(model)

        def on_change(change: Change, key: ObjectKey | None) -> None:
            if change.content:
                unreferenced = (
                    kind is not None and key is not None and (kind, *key) not in self._references
                )
                if not unreferenced:
                    self.revision += 1
                    self._cached = None
                    self._dirty.set()
            if change.status:
                for hook in self.on_status_change:
                    hook()

        return on_change

    def _backoff(self) -> Backoff:
        return Backoff(
            initial=self.settings.backoff_initial,
            maximum=self.settings.backoff_maximum,
            random=self._random,
            sleep=self._sleep,
        )


def _model_of(object_id: ObjectId) -> type[Resource] | None:
    entry = SERVED_KINDS.get((object_id.group, object_id.kind))
    return entry[0] if entry is not None else None
