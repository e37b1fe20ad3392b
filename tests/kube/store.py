"""The emulated API server's storage: objects, revisions and the event history, without IO.

The semantics the controller relies on, as a real API server has them:

- one revision counter for every write (etcd's), shown as ``metadata.resourceVersion``;
- ``uid``, ``creationTimestamp`` and ``generation: 1`` on create;
- ``generation`` goes up when anything but metadata and status changes, never otherwise;
- resources with a status subresource ignore status in main-resource writes, and a write to
  ``/status`` changes status only;
- an update or patch that carries a stale ``metadata.resourceVersion`` is a 409 Conflict;
- a write that changes nothing is not a write (no new revision, no event);
- deleting an object deletes the objects whose ``ownerReferences`` name it (background
  cascading deletion);
- the event history is a bounded window: watching from a revision older than the window
  (or older than ``compact()``) is 410 Expired.

Left out: finalizers and graceful deletion, server-side apply, defaulting and schema
validation, consistent paginated snapshots beyond one list call.
"""

from __future__ import annotations

import copy
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jsonpatch

from tests.kube import errors
from tests.kube.resources import ResourceType

Object = dict[str, Any]
ObjectKey = tuple[tuple[str, str], str, str]  # (group, plural), namespace, name

MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
# Treated as a merge patch: exact for the maps agw writes, not for keyed lists.
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"


@dataclass(frozen=True)
class Event:
    revision: int
    resource: tuple[str, str]
    namespace: str
    type: str
    object: Object


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: maps merge recursively, null deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _rfc3339(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _content(obj: Object) -> Object:
    """What generation tracks: everything but metadata and status."""
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


class ObjectStore:
    def __init__(self, clock: Callable[[], float] = time.time, history: int = 1000) -> None:
        # An empty etcd is at revision 1; no list ever reports "0", which means "any" to watch.
        self.revision = 1
        self._clock = clock
        self._objects: dict[ObjectKey, Object] = {}
        self._history: deque[Event] = deque()
        self._history_limit = history
        # Every event after this revision is still in the history.
        self._compacted = 1

    # --- reads -------------------------------------------------------------------------------

    def get(self, resource: ResourceType, namespace: str, name: str) -> Object:
        obj = self._objects.get((resource.key, namespace, name))
        if obj is None:
            raise errors.not_found(f'{resource.name} "{name}"')
        return copy.deepcopy(obj)

    def list_objects(
        self, resource: ResourceType, namespace: str | None
    ) -> tuple[list[Object], int]:
        """Every object of ``resource`` (in ``namespace``, or all), sorted, and the revision."""
        items = [
            copy.deepcopy(obj)
            for (key, ns, _), obj in sorted(self._objects.items(), key=lambda item: item[0][1:])
            if key == resource.key and (namespace is None or ns == namespace)
        ]
        return items, self.revision

    def events_since(
        self, resource: ResourceType, namespace: str | None, revision: int
    ) -> list[Event]:
        if revision < self._compacted:
            raise errors.gone(revision, self._compacted)
        return [
            event
            for event in self._history
            if event.revision > revision
            and event.resource == resource.key
            and (namespace is None or event.namespace == namespace)
        ]

    def compact(self) -> None:
        """Forget the whole history, as etcd compaction does: older watches get 410."""
        self._history.clear()
        self._compacted = self.revision

    # --- writes ------------------------------------------------------------------------------

    def create(self, resource: ResourceType, namespace: str, body: Object) -> Object:
        obj = copy.deepcopy(body)
        meta = obj.setdefault("metadata", {})
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
        name = meta.get("name")
        if not isinstance(name, str) or not name:
            raise errors.invalid("metadata.name: Required value")
        self._check_namespace(resource, namespace, meta)
        key = (resource.key, namespace, name)
        if key in self._objects:
            raise errors.already_exists(f'{resource.name} "{name}"')
        for field in ("resourceVersion", "deletionTimestamp"):
            meta.pop(field, None)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = _rfc3339(self._clock())
        meta["generation"] = 1
        if resource.status:
            obj.pop("status", None)
        return self._commit(resource, key, obj, "ADDED")

    def replace(
        self, resource: ResourceType, namespace: str, name: str, body: Object, *, status: bool
    ) -> Object:
        current = self._current(resource, namespace, name)
        return self._update(resource, namespace, name, current, copy.deepcopy(body), status)

    def patch(
        self,
        resource: ResourceType,
        namespace: str,
        name: str,
        body: Any,
        content_type: str,
        *,
        status: bool,
    ) -> Object:
        current = self._current(resource, namespace, name)
        kind = content_type.split(";")[0].strip()
        if kind in (MERGE_PATCH, STRATEGIC_MERGE_PATCH):
            patched = merge_patch(current, body)
        elif kind == JSON_PATCH:
            try:
                patched = jsonpatch.apply_patch(current, body)
            except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as error:
                raise errors.invalid(f"the JSON patch does not apply: {error}") from None
        else:
            raise errors.ApiError(415, "UnsupportedMediaType", f"{kind} is not supported")
        return self._update(resource, namespace, name, current, patched, status)

    def delete(self, resource: ResourceType, namespace: str, name: str) -> Object:
        key = (resource.key, namespace, name)
        if key not in self._objects:
            raise errors.not_found(f'{resource.name} "{name}"')
        return self._delete(key)

    def _delete(self, key: ObjectKey) -> Object:
        obj = self._objects.pop(key)
        self.revision += 1
        obj["metadata"]["resourceVersion"] = str(self.revision)
        self._record(Event(self.revision, key[0], key[1], "DELETED", copy.deepcopy(obj)))
        uid = obj["metadata"]["uid"]
        owned = [
            other
            for other, candidate in self._objects.items()
            if any(
                ref.get("uid") == uid for ref in candidate["metadata"].get("ownerReferences", [])
            )
        ]
        for other in owned:
            if other in self._objects:  # not already collected through another owner chain
                self._delete(other)
        return obj

    # --- internals ---------------------------------------------------------------------------

    def _current(self, resource: ResourceType, namespace: str, name: str) -> Object:
        obj = self._objects.get((resource.key, namespace, name))
        if obj is None:
            raise errors.not_found(f'{resource.name} "{name}"')
        return copy.deepcopy(obj)

    def _update(
        self,
        resource: ResourceType,
        namespace: str,
        name: str,
        current: Object,
        wanted: Object,
        status: bool,
    ) -> Object:
        meta = wanted.get("metadata") or {}
        expected = meta.get("resourceVersion")
        if expected and expected != current["metadata"]["resourceVersion"]:
            raise errors.conflict(f'{resource.name} "{name}"')
        if meta.get("name", name) != name:
            raise errors.bad_request("the name of the object does not match the name in the URL")
        if status:
            new = copy.deepcopy(current)
            new["status"] = wanted.get("status")
            if new["status"] is None:
                del new["status"]
        else:
            new = wanted
            new["metadata"] = {**meta, **_system_metadata(current["metadata"])}
            if resource.status:
                new.pop("status", None)
                if "status" in current:
                    new["status"] = current["status"]
            if _content(new) != _content(current):
                new["metadata"]["generation"] = current["metadata"]["generation"] + 1
        new["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
        if new == current:
            return current
        return self._commit(resource, (resource.key, namespace, name), new, "MODIFIED")

    def _commit(self, resource: ResourceType, key: ObjectKey, obj: Object, kind: str) -> Object:
        self.revision += 1
        obj["metadata"]["resourceVersion"] = str(self.revision)
        self._objects[key] = obj
        self._record(Event(self.revision, resource.key, key[1], kind, copy.deepcopy(obj)))
        return copy.deepcopy(obj)

    def _record(self, event: Event) -> None:
        self._history.append(event)
        while len(self._history) > self._history_limit:
            self._compacted = self._history.popleft().revision

    @staticmethod
    def _check_namespace(resource: ResourceType, namespace: str, meta: dict[str, Any]) -> None:
        if not resource.namespaced:
            meta.pop("namespace", None)
            return
        if meta.get("namespace", namespace) != namespace:
            raise errors.bad_request(
                "the namespace of the object does not match the namespace in the URL"
            )
        meta["namespace"] = namespace


def _system_metadata(meta: dict[str, Any]) -> dict[str, Any]:
    """Fields only the server sets; a client's values for them are ignored."""
    keep = ("uid", "creationTimestamp", "generation", "namespace", "name")
    return {field: meta[field] for field in keep if field in meta}
