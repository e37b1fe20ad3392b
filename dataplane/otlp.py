"""A batch of spans as an OTLP ``ExportTraceServiceRequest``: one ResourceSpans carrying the
``service.name`` resource attribute, one ScopeSpans named "agw".

The protobuf wire format is written here by hand: building the request through the generated
upb messages (dicts, then messages from them) cost about 11 µs per span of ten attributes, this
about 3.5 (tools/bench_tracing.py's spans, best of runs). The bytes are what upb serializes for
the same request (fields in number order, proto3 defaults left out, oneof values always
written); tests/dataplane/test_otlp_encoding.py decodes them with the generated messages of
proto/agw/otlp/v1/trace.proto and compares both ways. Each distinct attribute (text or integer
value), and each span name, is encoded once per batch: spans of one route share most of them.

Imported only by the span exporter, itself loaded only when a configuration has tracing.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from typing import Any

from dataplane.tracing import Span

SCOPE_NAME = "agw"
_INT64 = range(-(1 << 63), 1 << 63)
_UINT64 = (1 << 64) - 1
# Span fields 1 (trace_id, 16 bytes) and 2 (span_id, 8 bytes): tag, length, big-endian id.
_IDS = struct.Struct(">BBQQBBQ")
# Span fields 7 and 8 (start and end times, fixed64): tag, little-endian value.
_TIMES = struct.Struct("<BQBQ")
_PARENT = struct.Struct(">BBQ")  # field 4
_DOUBLE = struct.Struct("<Bd")  # AnyValue field 4, double_value
_KIND_SERVER = b"\x30\x02"  # field 6, SPAN_KIND_SERVER
_STATUS_ERROR = b"\x7a\x02\x18\x02"  # field 15: Status{code (3): STATUS_CODE_ERROR}
_SMALL = [bytes((n,)) for n in range(0x80)]


def encode_spans(service_name: str, spans: Iterable[Span]) -> bytes:
    encoded: dict[object, bytes] = {}
    scope = _field(1, _field(1, SCOPE_NAME.encode()))
    scope_spans = scope + b"".join([_field(2, _span(span, encoded)) for span in spans])
    resource = _field(1, _key_value("service.name", service_name))
    resource_spans = _field(1, resource) + _field(2, scope_spans)
    return _field(1, resource_spans)


def _span(span: Span, encoded: dict[object, bytes]) -> bytes:
    trace_id, span_id, parent_id, name, start_ns, end_ns, error, attributes = span
    name_field = encoded.get(name)
    if name_field is None:
        name_field = encoded[name] = _field(5, name.encode()) if name else b""
    parts = [
        _IDS.pack(0x0A, 16, trace_id >> 64, trace_id & _UINT64, 0x12, 8, span_id),
        _PARENT.pack(0x22, 8, parent_id) if parent_id else b"",
        name_field,
        _KIND_SERVER,
        _times(start_ns, end_ns),
    ]
    for item in attributes.items():
        kind = type(item[1])
        if kind is str or kind is int:
            # By (key, value): text and integers repeat across spans, and the two never equal.
            field = encoded.get(item)
            if field is None:
                field = encoded[item] = _attribute(*item)
            parts.append(field)
        else:
            parts.append(_attribute(*item))
    if error:
        parts.append(_STATUS_ERROR)
    return b"".join(parts)


def _times(start_ns: int, end_ns: int) -> bytes:
    if start_ns and end_ns:
        return _TIMES.pack(0x39, start_ns, 0x41, end_ns)
    # A zero time is proto3's default, which the wire leaves out.
    start = b"\x39" + start_ns.to_bytes(8, "little") if start_ns else b""
    return start + (b"\x41" + end_ns.to_bytes(8, "little") if end_ns else b"")


def _attribute(key: str, value: Any) -> bytes:
    """Span field 9: one KeyValue."""
    return _field(9, _key_value(key, value))


def _key_value(key: str, value: Any) -> bytes:
    key_field = _field(1, key.encode()) if key else b""
    return key_field + _field(2, any_value(value))


def any_value(value: Any) -> bytes:
    """A span attribute's value as OTLP's AnyValue types it (bool before int: a bool is an
    int; an integer beyond int64, possible from CEL, as text). Being a oneof, the value is
    written even when it is the type's default."""
    if isinstance(value, bool):
        return b"\x10\x01" if value else b"\x10\x00"
    if isinstance(value, int) and value in _INT64:
        return b"\x18" + _varint(value & _UINT64)
    if isinstance(value, float):
        return _DOUBLE.pack(0x21, value)
    return _field(1, (value if isinstance(value, str) else str(value)).encode())


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited field (numbers below 16 fit the tag in one byte)."""
    return _SMALL[number << 3 | 2] + _varint(len(payload)) + payload


def _varint(value: int) -> bytes:
    if value < 0x80:
        return _SMALL[value]
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)
