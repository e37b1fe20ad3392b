"""The parent-worker channel: length-prefixed frames over a Unix socketpair.

A frame is a 4-byte big-endian payload length, a 1-byte ``Kind`` and the payload. Control
messages are small JSON objects. A config travels as one ``DeltaDiscoveryResponse`` holding
every resource in effect (each already serialized, as received from the control plane), with
the update's sequence number as its nonce: the worker parses only protobuf, nothing is
pickled, and the parent serializes a config once for all workers.
"""

from __future__ import annotations

import asyncio
import json
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from envoy.service.discovery.v3.discovery_pb2 import DeltaDiscoveryResponse, Resource
from google.protobuf.any_pb2 import Any as AnyProto

from dataplane.config import XdsResources
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


@dataclass(frozen=True, slots=True)
class ShippedConfig:
    sequence: int
    version: str
    resources: XdsResources


def encode_config(
    sequence: int, version: str, resources: Mapping[str, Mapping[str, StoredResource]]
) -> bytes:
    message = DeltaDiscoveryResponse(
        type_url=CONFIG_TYPE_URL, nonce=str(sequence), system_version_info=version
    )
    for type_url, named in resources.items():
        message.resources.extend(
            Resource(
                name=name,
                version=res.version,
                resource=AnyProto(type_url=type_url, value=res.serialized),
            )
            for name, res in named.items()
        )
    return frame(Kind.CONFIG, message.SerializeToString())


def decode_config(payload: bytes) -> ShippedConfig:
    message = DeltaDiscoveryResponse()
    message.ParseFromString(payload)
    by_type: dict[str, dict[str, Any]] = {
        url: {} for url in (LISTENER, ROUTE_CONFIGURATION, CLUSTER, CLUSTER_LOAD_ASSIGNMENT, SECRET)
    }
    for entry in message.resources:
        type_url = entry.resource.type_url
        resource = decode(type_url, entry.resource.value)
        by_type[type_url][entry.name] = resource
    return ShippedConfig(
        sequence=int(message.nonce),
        version=message.system_version_info,
        resources=XdsResources(
            listeners=by_type[LISTENER],
            route_configs=by_type[ROUTE_CONFIGURATION],
            clusters=by_type[CLUSTER],
            load_assignments=by_type[CLUSTER_LOAD_ASSIGNMENT],
            secrets=by_type[SECRET],
        ),
    )
