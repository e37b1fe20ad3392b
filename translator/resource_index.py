"""Objects kept sorted by kind and key while they come and go, so that the ResourceSet
published after a change costs the change, not the whole set.

``ResourceSet.from_objects`` groups and sorts every object again; a source that learns of
changes one object at a time (a file re-read, a watch event) keeps a ``ResourceIndex``
instead. Each kind's objects sit in a list sorted by (namespace, name), updated by bisection;
a kind no change touched keeps its very tuple in the next ResourceSet, which is what lets
the translator's memo (translator.incremental) see at a glance that the context is the same.
"""

from __future__ import annotations

from bisect import bisect_left

from translator.model import Resource
from translator.resources import FIELD_NAMES, ResourceSet, field_index


class ResourceIndex:
    """The current object per (kind, namespace, name); ``resource_set()`` is equal to
    ``ResourceSet.from_objects`` of those objects."""

    def __init__(self) -> None:
        # Per ResourceSet field: the (namespace, name) keys in order, and their objects.
        self._keys: list[list[tuple[str, str]]] = [[] for _ in FIELD_NAMES]
        self._objects: list[list[Resource]] = [[] for _ in FIELD_NAMES]
        # Per field: the tuple published last, or None once the field changed since.
        self._tuples: list[tuple[Resource, ...] | None] = [() for _ in FIELD_NAMES]
        self._published: ResourceSet | None = ResourceSet()

    def put(self, obj: Resource) -> None:
        """Add ``obj``, or let it replace the object of its kind and key."""
        index = field_index(type(obj))
        keys, objects = self._keys[index], self._objects[index]
        key = (obj.metadata.namespace, obj.metadata.name)
        at = bisect_left(keys, key)
        if at < len(keys) and keys[at] == key:
            if objects[at] is obj:
                return
            objects[at] = obj
        else:
            keys.insert(at, key)
            objects.insert(at, obj)
        self._changed(index)

    def discard(self, obj: Resource) -> None:
        """Remove whatever object has ``obj``'s kind and key (nothing if none does)."""
        index = field_index(type(obj))
        keys = self._keys[index]
        key = (obj.metadata.namespace, obj.metadata.name)
        at = bisect_left(keys, key)
        if at < len(keys) and keys[at] == key:
            del keys[at]
            del self._objects[index][at]
            self._changed(index)

    def resource_set(self) -> ResourceSet:
        if self._published is None:
            for index, published in enumerate(self._tuples):
                if published is None:
                    self._tuples[index] = tuple(self._objects[index])
            fields = dict(zip(FIELD_NAMES, self._tuples, strict=True))
            self._published = ResourceSet(**fields)  # type: ignore[arg-type]
        return self._published

    def _changed(self, index: int) -> None:
        self._tuples[index] = None
        self._published = None
