"""agw's own annotations on Envoy resources: where each one came from, for dumps and logs."""

from __future__ import annotations

from envoy.config.core.v3 import base_pb2
from google.protobuf import struct_pb2
from google.protobuf.message import Message

NAMESPACE = "agw"


def origin_metadata(origin: str) -> Message:
    fields = struct_pb2.Struct()
    fields.update({"origin": origin})
    metadata = base_pb2.Metadata()
    metadata.filter_metadata[NAMESPACE].CopyFrom(fields)
    return metadata
