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
        # copying thousands of statuses would cost more than translating the change.
        self._last: dict[ObjectId, tuple[Status, Status]] = {}

    def stamp(self, statuses: Mapping[ObjectId, Status]) -> dict[ObjectId, Status]:
        now = rfc3339(self._clock())
        last: dict[ObjectId, tuple[Status, Status]] = {}
        for key, status in statuses.items():
            previous = self._last.get(key)
            if previous is not None and (previous[0] is status or previous[0] == status):
                last[key] = previous
            else:
                last[key] = (status, _stamp(status, previous[1] if previous else None, now))
        self._last = last
        return {key: stamped for key, (_, stamped) in last.items()}


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
