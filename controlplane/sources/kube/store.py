"""The objects of one kind as last seen in the cluster, parsed into the translator's models.

An object that fails to parse is reported and its last good version kept (a typo in a route
never deletes it); deleting it forgets both. Every change says whether it matters to the
translator (anything but status and resourceVersion changed) or only to the status writer,
so that writing a status does not cause a translation.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from translator.loader import field_path, parse_object
from translator.model import Resource

Object = dict[str, Any]
ObjectKey = tuple[str, str]  # namespace, name
_VOLATILE_METADATA = ("resourceVersion", "managedFields")


@dataclass(frozen=True)
class Change:
    content: bool = False
    status: bool = False

    def __or__(self, other: Change) -> Change:
        return Change(self.content or other.content, self.status or other.status)

    def __bool__(self) -> bool:
        return self.content or self.status


@dataclass(frozen=True)
class Parsed:
    key: ObjectKey
    # None when the object is invalid (``problem`` says why) or of a kind agw does not read.
    model: Resource | None
    problem: str
    content_digest: str
    status_digest: str


@dataclass
class _Entry:
    model: Resource | None
    problem: str
    content_digest: str
    status_digest: str


def parse(raw: Object) -> Parsed:
    """Pure and thread-safe: lists are parsed off the event loop."""
    meta = raw.get("metadata") or {}
    key = (str(meta.get("namespace") or ""), str(meta.get("name") or ""))
    model: Resource | None = None
    problem = ""
    try:
        model = parse_object(raw)
    except ValidationError as error:
        problem = _describe(raw, error)
    except RecursionError:
        problem = f"{_label(raw)}: the object nests too deeply"
    content = {k: v for k, v in raw.items() if k != "status"}
    content["metadata"] = {k: v for k, v in meta.items() if k not in _VOLATILE_METADATA}
    return Parsed(key, model, problem, _digest(content), _digest(raw.get("status")))


class KindStore:
    def __init__(self) -> None:
        self._entries: dict[ObjectKey, _Entry] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def upsert(self, parsed: Parsed) -> Change:
        old = self._entries.get(parsed.key)
        model = parsed.model
        if model is None and old is not None and parsed.problem:
            model = old.model  # keep the last good version of an object that became invalid
        self._entries[parsed.key] = _Entry(
            model, parsed.problem, parsed.content_digest, parsed.status_digest
        )
        if old is None:
            return Change(content=True, status=True)
        return Change(
            content=old.content_digest != parsed.content_digest or old.problem != parsed.problem,
            status=old.status_digest != parsed.status_digest,
        )

    def remove(self, key: ObjectKey) -> Change:
        if self._entries.pop(key, None) is None:
            return Change()
        return Change(content=True, status=True)

    def replace_all(self, parsed: Iterable[Parsed]) -> Change:
        """Swap in the result of a list: objects missing from it were deleted meanwhile."""
        fresh = {item.key: item for item in parsed}
        change = Change()
        for key in [key for key in self._entries if key not in fresh]:
            change |= self.remove(key)
        for item in fresh.values():
            change |= self.upsert(item)
        return change

    def clear(self) -> Change:
        return self.replace_all(())

    def get(self, namespace: str, name: str) -> Resource | None:
        entry = self._entries.get((namespace, name))
        return entry.model if entry is not None else None

    def objects(self) -> Iterator[Resource]:
        for entry in self._entries.values():
            if entry.model is not None:
                yield entry.model

    def problems(self) -> list[str]:
        return [entry.problem for _, entry in sorted(self._entries.items()) if entry.problem]


def _label(raw: Object) -> str:
    meta = raw.get("metadata") or {}
    where = "/".join(str(part) for part in (meta.get("namespace"), meta.get("name")) if part)
    return f"{raw.get('kind', 'object')} {where}"


def _describe(raw: Object, error: ValidationError) -> str:
    details = []
    for detail in error.errors(include_url=False):
        path = field_path(detail["loc"], raw, missing=detail["type"] == "missing")
        details.append(f"{path}: {detail['msg']}" if path else detail["msg"])
    return f"{_label(raw)}: {'; '.join(dict.fromkeys(details))}"


def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()
