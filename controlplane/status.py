"""Condition timestamps. The translator has no clock; this adds ``lastTransitionTime`` to
every condition, keeping the previous time when a condition's status did not change (as the
Kubernetes API conventions ask), so statuses can be compared and written only on change."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from translator.gatewayapi.status import ObjectId

Status = dict[str, Any]


def rfc3339(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class StatusStamper:
    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        # Per object: the translator's status (unstamped) and what it was stamped into. An
        # equal status keeps its stamped form: most objects are unchanged by most updates, and
        # copying thousands of statuses would cost more than translating the change. The
        # translator hands over the very same dict for an unchanged object, so only the
        # others are even compared.
        self._given: dict[ObjectId, Status] = {}
        self._stamped: dict[ObjectId, Status] = {}

    def stamp(self, statuses: Mapping[ObjectId, Status]) -> dict[ObjectId, Status]:
        """``statuses`` stamped (in no particular order); callers must not mutate it."""
        now = rfc3339(self._clock())
        given, stamped = self._given, self._stamped
        fresh: dict[ObjectId, Status] = {}
        for key in [key for key, status in statuses.items() if given.get(key) is not status]:
            status, before = statuses[key], given.get(key)
            if before is not None and before == status:
                fresh[key] = stamped[key]
            else:
                fresh[key] = _stamp(status, stamped.get(key), now)
        # Copies and merges of dicts reuse the keys' hashes; thousands of keys hashed again
        # (each a tuple of four strings) would cost more than the loop above.
        result = {**stamped, **fresh}
        if len(result) != len(statuses):
            for key in result.keys() - statuses.keys():
                del result[key]
        self._given = dict(statuses)
        self._stamped = result
        return result


def _stamp(status: Status, previous: Status | None, now: str) -> Status:
    result = copy.deepcopy(status)
    for path, conditions in _condition_lists(result):
        old = _times(_find(previous, path)) if previous else {}
        for condition in conditions:
            kept = old.get((condition["type"], condition["status"]))
            condition["lastTransitionTime"] = kept or now
    return result


def _condition_lists(status: Status) -> list[tuple[tuple[str | int, ...], list[dict[str, Any]]]]:
    """Every conditions list in a Gateway API status, with its path."""
    found: list[tuple[tuple[str | int, ...], list[dict[str, Any]]]] = []
    if "conditions" in status:
        found.append((("conditions",), status["conditions"]))
    for group in ("listeners", "parents", "ancestors"):
        for index, item in enumerate(status.get(group, ())):
            if "conditions" in item:
                key = _item_key(group, item, index)
                found.append(((group, key, "conditions"), item["conditions"]))
    return found


def _item_key(group: str, item: dict[str, Any], index: int) -> str | int:
    if group == "listeners":
        return str(item.get("name"))
    ref = item.get("parentRef") or item.get("ancestorRef")
    return repr(sorted(ref.items())) if isinstance(ref, dict) else index


def _find(status: Status | None, path: tuple[str | int, ...]) -> list[dict[str, Any]]:
    if status is None:
        return []
    for candidate_path, conditions in _condition_lists(status):
        if candidate_path == path:
            return conditions
    return []


def _times(conditions: list[dict[str, Any]]) -> dict[tuple[str, str], str]:
    return {
        (c["type"], c["status"]): c["lastTransitionTime"]
        for c in conditions
        if "lastTransitionTime" in c
    }
