"""Immutable per-gateway xDS snapshots: protos by type URL, each with a content hash.

A resource's hash covers its deterministic serialization, so an unchanged resource keeps its
version across translations and control-plane restarts; delta xDS sends those hashes as
per-resource versions, and both protocol flavours compare them to decide what changed.
Resources come as messages, serialized here, or already serialized by the translator
(translator.xds.encoded: large route configurations), taken as they are.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from google.protobuf.message import Message

from controlplane.xds.errors import SnapshotTypeMismatch
from translator.xds.encoded import EncodedMessages

_TYPE_URL_PREFIX = "type.googleapis.com/"
_EMPTY: Mapping[str, Resource] = MappingProxyType({})


def content_hash(data: bytes) -> str:
    """Sixteen hex digits of SHA-256: short enough for dumps, collisions out of reach."""
    return hashlib.sha256(data).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Resource:
    """One named resource as it goes on the wire: serialized once, versioned by content."""

    name: str
    serialized: bytes
    version: str

    @classmethod
    def of(cls, name: str, message: Message) -> Resource:
        return cls.encoded(name, message.SerializeToString(deterministic=True))

    @classmethod
    def encoded(cls, name: str, serialized: bytes) -> Resource:
        """From a message's deterministic serialization."""
        return cls(name, serialized, content_hash(serialized))


def _check_type(what: str, actual: str, expected: str) -> None:
    if actual != expected:
        raise SnapshotTypeMismatch(f"{what!r} is a {actual}, not a {expected}")


def versions_digest(versions: Mapping[str, str]) -> str:
    """One version for a set of resources (name to version): changes exactly when a name or a
    content does."""
    digest = hashlib.sha256()
    for name in sorted(versions):
        digest.update(name.encode())
        digest.update(b"\0")
        digest.update(versions[name].encode())
        digest.update(b"\n")
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class Snapshot:
    """Everything one gateway's proxies should hold, frozen at construction.

    ``resources`` maps type URL to resource name to proto. Callers must not mutate the protos
    after handing them over: their serialization and hash are taken here, once.
    """

    version: str
    resources: Mapping[str, Mapping[str, Message]]
    _entries: Mapping[str, Mapping[str, Resource]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        entries: dict[str, Mapping[str, Resource]] = {}
        frozen: dict[str, Mapping[str, Message]] = {}
        for type_url, by_name in self.resources.items():
            expected = type_url.removeprefix(_TYPE_URL_PREFIX)
            if isinstance(by_name, EncodedMessages):
                # Kept serialized by the translator: taken as they are, never parsed here.
                _check_type(type_url, by_name.message_type.DESCRIPTOR.full_name, expected)
                entries[type_url] = MappingProxyType(
                    {name: Resource.encoded(name, by_name.encoded(name)) for name in by_name}
                )
                frozen[type_url] = by_name
                continue
            for name, message in by_name.items():
                _check_type(name, message.DESCRIPTOR.full_name, expected)
            entries[type_url] = MappingProxyType(
                {name: Resource.of(name, message) for name, message in by_name.items()}
            )
            frozen[type_url] = MappingProxyType(dict(by_name))
        object.__setattr__(self, "resources", MappingProxyType(frozen))
        object.__setattr__(self, "_entries", MappingProxyType(entries))

    @classmethod
    def from_resources(
        cls,
        resources_by_type_url: Mapping[str, Mapping[str, Message]],
        version: str | None = None,
    ) -> Snapshot:
        """Build a snapshot; without ``version``, one is derived from the contents."""
        snapshot = cls("", resources_by_type_url)
        if version is None:
            version = snapshot.content_version()
        object.__setattr__(snapshot, "version", version)
        return snapshot

    def entries(self, type_url: str) -> Mapping[str, Resource]:
        """The serialized, hashed resources of one type (empty for a type not present)."""
        return self._entries.get(type_url, _EMPTY)

    def versions(self, type_url: str) -> dict[str, str]:
        """Resource name to content hash, for one type."""
        return {name: res.version for name, res in self.entries(type_url).items()}

    def content_version(self) -> str:
        digest = hashlib.sha256()
        for type_url in sorted(self._entries):
            digest.update(type_url.encode())
            digest.update(versions_digest(self.versions(type_url)).encode())
        return digest.hexdigest()[:16]
