"""Memos keyed by object identity, which forget what a translation run did not use, and
``same_ends``, which finds where two sequences of objects differ.

translator.incremental explains what is memoised and when it is valid; this module only
knows how to remember values per object. The memo holds a reference to every object it keys
on, so an ``id()`` cannot be reused while its entry lives.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Sequence
from dataclasses import dataclass
from operator import is_
from typing import Any, Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Generations(Generic[K, V]):
    """A dict that forgets what one run did not touch: entries move from the previous run's
    generation to the current one when they are read or written."""

    def __init__(self) -> None:
        self._previous: dict[K, V] = {}
        self._current: dict[K, V] = {}

    def get(self, key: K) -> V | None:
        found = self._current.get(key)
        if found is None:
            found = self._previous.pop(key, None)
            if found is not None:
                self._current[key] = found
        return found

    def put(self, key: K, value: V) -> None:
        self._current[key] = value

    def turn(self) -> None:
        self._previous, self._current = self._current, {}

    def clear(self) -> None:
        self._previous.clear()
        self._current.clear()

    def __len__(self) -> int:
        return len(self._previous) + len(self._current)


@dataclass(frozen=True, slots=True)
class Keyed(Generic[V]):
    """A memoised value with the object it was computed from, kept alive and checked by
    identity on every hit."""

    source: Any
    value: V


class IdentityMemo(Generic[V]):
    """Values computed from one object (plus a hashable qualifier), keyed by its identity."""

    def __init__(self) -> None:
        self._entries: Generations[tuple[int, Hashable], Keyed[V]] = Generations()

    def get(self, source: Any, qualifier: Hashable = None) -> V | None:
        entry = self._entries.get((id(source), qualifier))
        if entry is None or entry.source is not source:
            return None
        return entry.value

    def put(self, source: Any, value: V, qualifier: Hashable = None) -> None:
        self._entries.put((id(source), qualifier), Keyed(source, value))

    def turn(self) -> None:
        self._entries.turn()

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


def same_ends(old: Sequence[Any], new: Sequence[Any]) -> tuple[int, int]:
    """How many leading and how many trailing items ``old`` and ``new`` share, by identity
    (the two runs never overlap). Compared at C speed: with thousands of items and a few
    changed, finding the changed ones one by one would cost more than the change."""
    prefix = _leading(map(is_, old, new))
    limit = min(len(old), len(new)) - prefix
    return prefix, min(_leading(map(is_, reversed(old), reversed(new))), limit)


def _leading(same: Iterator[bool]) -> int:
    flags = list(same)
    try:
        return flags.index(False)
    except ValueError:
        return len(flags)
