"""Status writer: the computed statuses, patched onto the objects' status subresources.

Only when something changed: the desired status is compared with the object's live status
(from the source's watch, or from our own last write when the watch has not caught up)
ignoring ``lastTransitionTime``; an equal one is not written. A condition that did not
change keeps the ``lastTransitionTime`` the object already has, so a restart or a new
leader does not reset the times (the stamper's times only reach new transitions).

Never fights another controller: in lists whose entries carry a ``controllerName`` (route
``status.parents``, policy ``status.ancestors``) only our entries are replaced and the others
are written back as they were; Gateways, GatewayClasses and ListenerSets get statuses only
when they are ours, and then the whole status is ours.

Objects that stop being ours lose what we wrote. A route or policy loses its entries that
name our controller (the translator reports only parentRefs to our Gateways, so an entry
for a parentRef that moved elsewhere goes too). A Gateway, GatewayClass or ListenerSet status
names no controller, so the writer remembers the last status it wanted for each one while it
was ours (every replica computes the same, leader or not) and, once the object is no longer
ours (its class changed to another controller's or was deleted), removes from the live status
exactly the conditions, listener entries, addresses and counts that still equal that record
(times aside). Whatever differs was written by someone else (the new class's controller, a
user) and stays. The record lives in memory: a Gateway that left us while no replica was
running keeps our last status until its new controller overwrites it.

Each patch is a JSON merge patch carrying the resourceVersion it was computed from: a
concurrent write is a 409, after which the object is read again and the patch recomputed
(at most ``max_attempts`` times). Only the leader writes; ``run`` waits while not leading.
"""

from __future__ import annotations

import asyncio
import copy
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import structlog

from controlplane.sources.kube.api import ApiResource, KubeApi
from controlplane.sources.kube.backoff import Backoff
from controlplane.sources.kube.errors import (
    KubeApiError,
    ObjectConflict,
    ObjectNotFound,
    PermissionDenied,
)
from translator.gatewayapi.status import ObjectId
from translator.model import Resource
from translator.resources import ResourceSet

log = structlog.get_logger("agw.statuswriter")

Status = dict[str, Any]
# The live status -> the status to write, or None when nothing needs writing.
Planner = Callable[[Status], Status | None]
# Status lists whose entries belong to the controller they name.
SHARED_LISTS = ("parents", "ancestors")
_ENTRY_REFS = {"parents": "parentRef", "ancestors": "ancestorRef"}


class LiveObjects(Protocol):
    def live(self, object_id: ObjectId) -> Resource | None: ...

    def resource_of(self, object_id: ObjectId) -> ApiResource | None: ...


@dataclass
class WriterCounts:
    # Comparisons of every desired status with the live one (each may write or not).
    passes: int = 0
    patches: int = 0
    conflicts: int = 0
    failures: int = 0


@dataclass(frozen=True)
class _Written:
    """Our last write: the watch may still show the object as it was before it."""

    version_before: str
    version_after: str
    status: Status


class StatusWriter:
    def __init__(
        self,
        api: KubeApi,
        objects: LiveObjects,
        controller_name: str,
        *,
        max_attempts: int = 5,
        concurrency: int = 8,
        backoff: Backoff | None = None,
    ) -> None:
        self.api = api
        self.objects = objects
        self.controller_name = controller_name
        self.max_attempts = max_attempts
        self.counts = WriterCounts()
        self._concurrency = concurrency
        self._backoff = backoff or Backoff()
        self._desired: dict[ObjectId, Status] | None = None
        self._dirty = asyncio.Event()
        self._written: dict[ObjectId, _Written] = {}
        # Whole statuses (no controllerName inside) we want now or wanted last while ours.
        self._owned: dict[ObjectId, Status] = {}
        # Objects no longer ours, with the status we last wanted for them: to be removed.
        self._released: dict[ObjectId, Status] = {}

    def offer(self, statuses: Mapping[ObjectId, Status], resources: ResourceSet) -> None:
        """The statuses of the latest translation (the objects they were computed from)."""
        desired = dict(statuses)
        for obj in resources.objects():
            object_id = ObjectId(obj.GROUP, obj.KIND, obj.metadata.namespace, obj.metadata.name)
            if object_id in desired:
                continue
            # The ResourceSet may predate our last write; the store has the latest status.
            live = self.objects.live(object_id)
            status = (live.status if live is not None else obj.status) or {}
            if self._has_our_entries(status):
                desired[object_id] = {key: [] for key in SHARED_LISTS if key in status}
        for object_id, status in desired.items():
            if not any(key in status for key in SHARED_LISTS):
                self._owned[object_id] = status
                self._released.pop(object_id, None)
        for object_id in [key for key in self._owned if key not in desired]:
            self._released[object_id] = self._owned.pop(object_id)
        self._desired = desired
        self._dirty.set()

    def poke(self) -> None:
        """Compare again (a live status changed, or leadership was gained)."""
        self._dirty.set()

    async def run(self, leading: asyncio.Event) -> None:
        while True:
            await self._dirty.wait()
            await leading.wait()
            self._dirty.clear()
            failed = await self.write_all(leading)
            if failed:
                await self._backoff.wait()
                self._dirty.set()
            else:
                self._backoff.reset()

    async def write_all(self, leading: asyncio.Event | None = None) -> int:
        """One pass over every desired status; returns how many writes failed."""
        if self._desired is None:
            return 0
        semaphore = asyncio.Semaphore(self._concurrency)
        failures = 0

        async def write(object_id: ObjectId, planner: Planner) -> bool:
            nonlocal failures
            async with semaphore:
                if leading is not None and not leading.is_set():
                    return False
                try:
                    written = await self._write(object_id, planner)
                except Exception:  # a malformed object must not stop the other writes
                    log.exception("status write raised", object=str(object_id))
                    written = False
                if not written:
                    failures += 1
                return written

        async def release(object_id: ObjectId, ours: Status) -> None:
            done = await write(object_id, functools.partial(released, ours=ours))
            # Unless the object became ours again (or left again) meanwhile.
            if done and self._released.get(object_id) is ours:
                del self._released[object_id]

        controller = self.controller_name
        await asyncio.gather(
            *(
                write(key, functools.partial(plan, desired=value, controller_name=controller))
                for key, value in self._desired.items()
            ),
            *(release(key, value) for key, value in list(self._released.items())),
        )
        self.counts.passes += 1
        return failures

    async def _write(self, object_id: ObjectId, planner: Planner) -> bool:
        resource = self.objects.resource_of(object_id)
        if resource is None:
            return True
        live = self._live_view(object_id)
        for _ in range(self.max_attempts):
            if live is None:
                return True  # deleted: nothing to write
            version, current = live
            wanted = planner(current)
            if wanted is None:
                return True
            patch = {
                "metadata": {"resourceVersion": version},
                "status": _with_nulls(wanted, current),
            }
            try:
                answer = await self.api.patch_status(
                    resource, object_id.namespace or None, object_id.name, patch
                )
            except ObjectConflict:
                self.counts.conflicts += 1
                live = await self._read(resource, object_id)
                continue
            except ObjectNotFound:
                return True
            except PermissionDenied as error:
                log.error("cannot write status", object=str(object_id), error=str(error))
                self.counts.failures += 1
                return False
            except KubeApiError as error:
                log.warning("status write failed", object=str(object_id), error=str(error))
                self.counts.failures += 1
                return False
            self.counts.patches += 1
            after = str((answer.get("metadata") or {}).get("resourceVersion") or "")
            self._written[object_id] = _Written(version, after, answer.get("status") or {})
            return True
        log.warning("status write kept conflicting", object=str(object_id))
        self.counts.failures += 1
        return False

    def _live_view(self, object_id: ObjectId) -> tuple[str, Status] | None:
        obj = self.objects.live(object_id)
        if obj is None:
            self._written.pop(object_id, None)
            return None
        version = obj.metadata.resource_version
        written = self._written.get(object_id)
        if written is not None and written.version_before == version:
            return written.version_after, written.status
        self._written.pop(object_id, None)
        return version, obj.status or {}

    async def _read(self, resource: ApiResource, object_id: ObjectId) -> tuple[str, Status] | None:
        path = resource.path(object_id.namespace or None, object_id.name)
        try:
            raw = await self.api.get(path, "get", resource.name)
        except ObjectNotFound:
            return None
        return str(raw["metadata"]["resourceVersion"]), raw.get("status") or {}

    def _has_our_entries(self, status: Status | None) -> bool:
        return any(
            entry.get("controllerName") == self.controller_name
            for key in SHARED_LISTS
            for entry in (status or {}).get(key) or ()
            if isinstance(entry, dict)
        )


def plan(current: Status, desired: Status, controller_name: str) -> Status | None:
    """The status to write, or None when ``current`` already says what ``desired`` says."""
    shared = [key for key in SHARED_LISTS if key in desired]
    if shared:
        wanted = dict(current)
        for key in shared:
            entries = [e for e in current.get(key) or () if isinstance(e, dict)]
            ours = [e for e in entries if e.get("controllerName") == controller_name]
            others = [e for e in entries if e.get("controllerName") != controller_name]
            mine = [_keep_times(entry, _matching(entry, ours, key)) for entry in desired[key]]
            if _without_times(mine) != _without_times(ours):
                wanted[key] = others + mine
        return wanted if wanted != current else None
    wanted = _keep_times(desired, current)
    return wanted if _without_times(wanted) != _without_times(current) else None


def released(current: Status, ours: Status) -> Status | None:
    """``current`` without what ``ours`` (the status we last wanted) put there; None when
    none of it is left. List items and values that differ from ours are someone else's."""
    wanted = dict(current)
    for key, value in ours.items():
        if key not in wanted:
            continue
        if isinstance(value, list) and isinstance(wanted[key], list):
            mine = [_without_times(item) for item in value]
            kept = [item for item in wanted[key] if _without_times(item) not in mine]
            if len(kept) == len(wanted[key]):
                continue
            if kept:
                wanted[key] = kept
            else:
                del wanted[key]
        elif _without_times(wanted[key]) == _without_times(value):
            del wanted[key]
    return wanted if wanted != current else None


def _matching(entry: Status, candidates: list[Status], key: str) -> Status | None:
    ref = _ENTRY_REFS[key]
    return next((c for c in candidates if c.get(ref) == entry.get(ref)), None)


def _keep_times(desired: Status, current: Status | None) -> Status:
    """``desired`` with the lastTransitionTime of every condition ``current`` has unchanged."""
    result = copy.deepcopy(desired)
    if current is None:
        return result
    _copy_times(result.get("conditions"), current.get("conditions"))
    current_listeners = {
        listener.get("name"): listener
        for listener in current.get("listeners") or ()
        if isinstance(listener, dict)
    }
    for listener in result.get("listeners") or ():
        match = current_listeners.get(listener.get("name"))
        if match is not None:
            _copy_times(listener.get("conditions"), match.get("conditions"))
    return result


def _copy_times(conditions: Any, current: Any) -> None:
    if not isinstance(conditions, list) or not isinstance(current, list):
        return
    times = {
        (c.get("type"), c.get("status")): c["lastTransitionTime"]
        for c in current
        if isinstance(c, dict) and c.get("lastTransitionTime")
    }
    for condition in conditions:
        kept = times.get((condition.get("type"), condition.get("status")))
        if kept:
            condition["lastTransitionTime"] = kept


def _without_times(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_times(v) for k, v in value.items() if k != "lastTransitionTime"}
    if isinstance(value, list):
        return [_without_times(item) for item in value]
    return value


def _with_nulls(wanted: Status, current: Status) -> Status:
    """A merge patch removes only what it sets to null: fields we no longer write go."""
    return {**{key: None for key in current if key not in wanted}, **wanted}
