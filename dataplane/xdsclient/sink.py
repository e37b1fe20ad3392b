"""The seam between the xDS client and whatever runs the config: the worker pool, or a proxy
in the same process."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from dataplane.config import RuntimeConfig
from dataplane.xdsclient.store import StoredResource


@dataclass(frozen=True, slots=True)
class ConfigUpdate:
    """What the proxy should run: the resources in effect, by type URL and name, and their
    compiled form (already validated once by the client)."""

    version: str
    resources: Mapping[str, Mapping[str, StoredResource]]
    config: RuntimeConfig

    @property
    def is_complete(self) -> bool:
        return self.config.is_complete


class ConfigSink(Protocol):
    async def apply(self, update: ConfigUpdate) -> None:
        """Run ``update``; raise ``ConfigRejected`` or ``ListenerBindError`` to NACK it."""


def version_of(resources: Mapping[str, Mapping[str, StoredResource]]) -> str:
    """Sixteen hex digits that change exactly when a resource name or version does."""
    digest = hashlib.sha256()
    for type_url in sorted(resources):
        for name, resource in sorted(resources[type_url].items()):
            digest.update(f"{type_url}\0{name}\0{resource.version}\n".encode())
    return digest.hexdigest()[:16]
