"""The parent-worker channel: length-prefixed frames over a Unix socketpair.

A frame is a 4-byte big-endian payload length, a 1-byte ``Kind`` and the payload. Control
messages are small JSON objects. A config travels as one ``DeltaDiscoveryResponse`` (each
resource already serialized, as received from the control plane), with the update's sequence
number as its nonce: the worker parses only protobuf, nothing is pickled, and the parent
serializes a config once for all workers. A worker gets every resource in effect once
(``encode_config``: when it starts), then only what each update changed (``encode_changes``:
changed resources, and removed ones as "TYPE_URL NAME"), which it applies to what it holds
(``ShippedConfig.apply``). Route configurations stay serialized in the worker, which compiles
them by the bytes that changed (dataplane.config.route_patch); a changed one goes as a patch
of the version the worker holds (``PATCH_TYPE_URL``: the lengths of the common prefix and
suffix, then the bytes between), a few hundred bytes where the whole is hundreds of
kilobytes.
"""

from __future__ import annotations

import asyncio
import json
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from envoy.service.discovery.v3.discovery_pb2 import DeltaDiscoveryResponse, Resource
from google.protobuf.any_pb2 import Any as AnyProto

from dataplane.config import XdsResources
from dataplane.config.route_patch import common_ends
from dataplane.xdsclient.resource_types import (
    CLUSTER,
    CLUSTER_LOAD_ASSIGNMENT,
    LISTENER,
    ROUTE_CONFIGURATION,
    SECRET,
    decode,
)
from dataplane.xdsclient.store import StoredResource

_HEADER = struct.Struct("!IB")
# A config with tens of thousands of routes is tens of megabytes; anything near this is a bug.
MAX_FRAME_BYTES = 1 << 30
CONFIG_TYPE_URL = "agw.worker.config"
CHANGES_TYPE_URL = "agw.worker.config-changes"
PATCH_TYPE_URL = "agw.worker.route-configuration-patch"
_PATCH_HEADER = struct.Struct("!QQ")
_TYPES = (LISTENER, ROUTE_CONFIGURATION, CLUSTER, CLUSTER_LOAD_ASSIGNMENT, SECRET)


class Kind(IntEnum):
    # Parent to worker.
    CONFIG = 1
    DRAIN = 2
    # Worker to parent.
    HELLO = 10
    APPLIED = 11
    FAILED = 12
    STATS = 13
    DRAINED = 14


class FrameTooLarge(Exception):
    pass


def frame(kind: Kind, payload: bytes) -> bytes:
    if len(payload) > MAX_FRAME_BYTES:
        raise FrameTooLarge(f"{kind.name} frame of {len(payload)} bytes")
    return _HEADER.pack(len(payload), kind) + payload


def json_frame(kind: Kind, data: Mapping[str, Any]) -> bytes:
    return frame(kind, json.dumps(data, separators=(",", ":")).encode())


async def read_frame(reader: asyncio.StreamReader) -> tuple[Kind, bytes] | None:
    """The next frame, or None at end of stream (the other side exited)."""
    try:
        header = await reader.readexactly(_HEADER.size)
        length, kind = _HEADER.unpack(header)
        if length > MAX_FRAME_BYTES:
            raise FrameTooLarge(f"announced frame of {length} bytes")
        return Kind(kind), await reader.readexactly(length)
    except (asyncio.IncompleteReadError, ConnectionError):
        return None


def decode_json(payload: bytes) -> dict[str, Any]:
    data = json.loads(payload)
    if not isinstance(data, dict):
        raise ValueError("a control frame must hold a JSON object")
    return data


Held = dict[str, dict[str, Any]]


class ChangesOutOfStep(Exception):
    """A changes frame arrived without the full config it builds on."""


@dataclass(frozen=True, slots=True)
class ShippedConfig:
    sequence: int
    version: str
    # Every resource in effect (a full config), or only what changed since the last frame.
    full: bool
    # Type URL -> name -> message (a RouteConfiguration: its bytes).
    resources: Mapping[str, Mapping[str, Any]]
    removed: tuple[tuple[str, str], ...] = ()
    # Route configuration name -> (common prefix, common suffix, the bytes between).
    patches: Mapping[str, tuple[int, int, bytes]] = field(default_factory=dict)

    def apply(self, held: Held | None) -> tuple[Held, XdsResources]:
        """What a worker holds after this frame (``held`` is updated in place), and the
        resources to compile."""
        if self.full:
            held = {type_url: dict(self.resources.get(type_url, {})) for type_url in _TYPES}
        elif held is None:
            raise ChangesOutOfStep(f"config {self.sequence}: changes without a full config")
        else:
            routes = held[ROUTE_CONFIGURATION]
            if not self.patches.keys() <= routes.keys():
                raise ChangesOutOfStep(f"config {self.sequence}: a patch of nothing held")
            for name, (prefix, suffix, middle) in self.patches.items():
                old = memoryview(routes[name])
                routes[name] = b"".join((old[:prefix], middle, old[len(old) - suffix :]))
            for type_url, name in self.removed:
                held[type_url].pop(name, None)
            for type_url, named in self.resources.items():
                held[type_url].update(named)
        resources = XdsResources(
            listeners=dict(held[LISTENER]),
            route_configs=dict(held[ROUTE_CONFIGURATION]),
            clusters=dict(held[CLUSTER]),
            load_assignments=dict(held[CLUSTER_LOAD_ASSIGNMENT]),
            secrets=dict(held[SECRET]),
        )
        return held, resources


Resources = Mapping[str, Mapping[str, StoredResource]]


def encode_config(sequence: int, version: str, resources: Resources) -> bytes:
    """Every resource in ``resources``."""
    entries = [
        _entry(type_url, name, res)
        for type_url, named in resources.items()
        for name, res in named.items()
    ]
    return _frame(CONFIG_TYPE_URL, sequence, version, entries, ())


def encode_changes(sequence: int, version: str, resources: Resources, held: Resources) -> bytes:
    """What changes ``held`` (what the workers hold) into ``resources``."""
    entries: list[Resource] = []
    removed: list[str] = []
    for type_url in _TYPES:
        now, before = resources.get(type_url, {}), held.get(type_url, {})
        for name, res in now.items():
            old = before.get(name)
            if old is res:
                continue
            if type_url == ROUTE_CONFIGURATION and old is not None:
                entries.append(_patch(name, res, old.serialized))
            else:
                entries.append(_entry(type_url, name, res))
        removed.extend(f"{type_url} {name}" for name in before if name not in now)
    return _frame(CHANGES_TYPE_URL, sequence, version, entries, removed)


def _entry(type_url: str, name: str, res: StoredResource) -> Resource:
    return Resource(
        name=name, version=res.version, resource=AnyProto(type_url=type_url, value=res.serialized)
    )


def _patch(name: str, res: StoredResource, old: bytes) -> Resource:
    new = res.serialized
    prefix, suffix = common_ends(old, new)
    value = _PATCH_HEADER.pack(prefix, suffix) + new[prefix : len(new) - suffix]
    return Resource(
        name=name, version=res.version, resource=AnyProto(type_url=PATCH_TYPE_URL, value=value)
    )


def _frame(
    kind: str, sequence: int, version: str, entries: list[Resource], removed: Iterable[str]
) -> bytes:
    message = DeltaDiscoveryResponse(
        type_url=kind, nonce=str(sequence), system_version_info=version
    )
    message.resources.extend(entries)
    message.removed_resources.extend(removed)
    return frame(Kind.CONFIG, message.SerializeToString())


def decode_config(payload: bytes) -> ShippedConfig:
    message = DeltaDiscoveryResponse()
    message.ParseFromString(payload)
    by_type: dict[str, dict[str, Any]] = {url: {} for url in _TYPES}
    patches: dict[str, tuple[int, int, bytes]] = {}
    for entry in message.resources:
        type_url = entry.resource.type_url
        value = entry.resource.value
        if type_url == PATCH_TYPE_URL:
            prefix, suffix = _PATCH_HEADER.unpack_from(value)
            patches[entry.name] = (prefix, suffix, value[_PATCH_HEADER.size :])
        elif type_url == ROUTE_CONFIGURATION:
            # Kept serialized: compiled by the bytes that changed (route_patch).
            by_type[type_url][entry.name] = bytes(value)
        else:
            by_type[type_url][entry.name] = decode(type_url, value)
    removed = tuple(
        (type_url, name)
        for type_url, _, name in (entry.partition(" ") for entry in message.removed_resources)
    )
    return ShippedConfig(
        sequence=int(message.nonce),
        version=message.system_version_info,
        full=message.type_url != CHANGES_TYPE_URL,
        resources=by_type,
        removed=removed,
        patches=patches,
    )
