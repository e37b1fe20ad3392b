"""The resources the proxy holds, per type and name, as received.

A ``ResourceStore`` is immutable: an update builds a new store sharing the untouched types, so
a rejected update simply drops its candidate and the committed store never changes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from dataplane.xdsclient.resource_types import decode

_EMPTY: Mapping[str, StoredResource] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class StoredResource:
    name: str
    # The message; None while it has not been read (see ``message``).
    parsed: Any
    serialized: bytes
    # Delta: the resource's own version; state of the world: the response's version_info.
    version: str
    # Wall-clock time it arrived (config dumps show it as last_updated).
    received_at: float
    # Set when ``parsed`` is None: the type to parse ``serialized`` as.
    type_url: str = ""

    @property
    def message(self) -> Any:
        """Route configurations are parsed only when read: the parent of a worker pool only
        forwards them, and one with thousands of hosts takes milliseconds to parse. Raises
        ``ResourceUndecodable`` when the bytes do not parse."""
        if self.parsed is None:
            object.__setattr__(self, "parsed", decode(self.type_url, self.serialized))
        return self.parsed


@dataclass(frozen=True, slots=True)
class ResourceStore:
    by_type: Mapping[str, Mapping[str, StoredResource]] = field(
        default_factory=lambda: MappingProxyType({})
    )

    def of(self, type_url: str) -> Mapping[str, StoredResource]:
        return self.by_type.get(type_url, _EMPTY)

    def versions(self, type_url: str) -> dict[str, str]:
        return {name: res.version for name, res in self.of(type_url).items()}

    def updated(
        self,
        type_url: str,
        upserts: Iterable[StoredResource],
        removed: Iterable[str] = (),
        *,
        replace: bool = False,
    ) -> ResourceStore:
        """A store where ``type_url`` holds ``upserts`` on top of (or, with ``replace``,
        instead of) what it held, minus ``removed``."""
        current = {} if replace else dict(self.of(type_url))
        for name in removed:
            current.pop(name, None)
        current.update((res.name, res) for res in upserts)
        return self._with(type_url, current)

    def restricted(self, type_url: str, names: Iterable[str]) -> ResourceStore:
        """A store where ``type_url`` keeps only ``names`` (unsubscribed ones are dropped)."""
        held = self.of(type_url)
        keep = {name: held[name] for name in names if name in held}
        if len(keep) == len(held):
            return self
        return self._with(type_url, keep)

    def _with(self, type_url: str, resources: dict[str, StoredResource]) -> ResourceStore:
        by_type = dict(self.by_type)
        by_type[type_url] = MappingProxyType(resources)
        return ResourceStore(MappingProxyType(by_type))
