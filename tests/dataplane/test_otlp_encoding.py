"""The hand-written OTLP encoding of a batch of spans (``dataplane.otlp.encode_spans``), read
back with the generated messages of proto/agw/otlp/v1/trace.proto.

Covers, for fixed and Hypothesis-drawn batches: each decoded span compared field by field with
the span it came from (ids, parent, name, kind, times, status, attributes with their OTLP value
types, including text beyond ASCII, negative and beyond-int64 integers, and the defaults a
oneof still carries); the resource's ``service.name`` and the scope's name; and the bytes equal
to what upb serializes for the same request built field by field, so a collector sees exactly
what the generated code would have sent. Leaves out export over the network (test_tracing.py,
test_otlp_http.py) and how spans get their values (test_tracing_tags.py).
"""

from __future__ import annotations

import math
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from agwproto.agw.otlp.v1 import trace_pb2 as otlp
from dataplane.otlp import SCOPE_NAME, encode_spans
from dataplane.tracing import Span

Value = str | bool | int | float

ROUTE_SPAN = Span(
    trace_id=0x4BF92F3577B34DA6A3CE929D0E0E4736,
    span_id=0x00F067AA0BA902B7,
    parent_id=0,
    name="GET web/",
    start_ns=1_700_000_000_123_456_789,
    end_ns=1_700_000_000_124_000_000,
    error=False,
    attributes={
        "http.request.method": "GET",
        "url.path": "/api/items?q=1",
        "client.address": "127.0.0.1:50123",
        "tenant": "acmé",
        "http.response.status_code": 200,
    },
)
ODD_SPAN = Span(
    trace_id=(1 << 128) - 1,
    span_id=1,
    parent_id=(1 << 64) - 1,
    name="",
    start_ns=0,
    end_ns=(1 << 64) - 1,
    error=True,
    attributes={
        "": "",
        "false": False,
        "true": True,
        "zero": 0,
        "negative": -(1 << 63),
        "beyond": 1 << 63,
        "double": -0.0,
        "start": 1.7e9,
        "status": 200,
    },
)


def expected_value(value: Value) -> tuple[str, Any]:
    """OTLP's AnyValue for an attribute: its oneof member and value."""
    if isinstance(value, bool):
        return "bool_value", value
    if isinstance(value, int):
        if -(1 << 63) <= value < 1 << 63:
            return "int_value", value
        return "string_value", str(value)
    if isinstance(value, float):
        return "double_value", value
    return "string_value", value


def decoded_value(value: Any) -> tuple[str, Any]:
    kind = value.WhichOneof("value")
    return kind, getattr(value, kind)


def same(found: tuple[str, Any], expected: tuple[str, Any]) -> bool:
    """Equal values of one type; NaN and the sign of zero compared bit for bit."""
    if found[0] == "double_value" and expected[0] == "double_value":
        return math.copysign(1, found[1]) == math.copysign(1, expected[1]) and (
            found[1] == expected[1] or (math.isnan(found[1]) and math.isnan(expected[1]))
        )
    return found == expected


def assert_span(decoded: Any, span: Span) -> None:
    assert decoded.trace_id == span.trace_id.to_bytes(16, "big")
    assert decoded.span_id == span.span_id.to_bytes(8, "big")
    assert decoded.parent_span_id == (span.parent_id.to_bytes(8, "big") if span.parent_id else b"")
    assert decoded.trace_state == ""
    assert decoded.name == span.name
    assert decoded.kind == otlp.Span.SPAN_KIND_SERVER
    assert decoded.start_time_unix_nano == span.start_ns
    assert decoded.end_time_unix_nano == span.end_ns
    code = otlp.Status.STATUS_CODE_ERROR if span.error else otlp.Status.STATUS_CODE_UNSET
    assert decoded.status.code == code and decoded.status.message == ""
    assert [a.key for a in decoded.attributes] == list(span.attributes)
    for attribute, value in zip(decoded.attributes, span.attributes.values(), strict=True):
        assert same(decoded_value(attribute.value), expected_value(value)), attribute


def assert_batch(service_name: str, spans: list[Span]) -> None:
    request = otlp.ExportTraceServiceRequest.FromString(encode_spans(service_name, spans))
    (resource_spans,) = request.resource_spans
    (service,) = resource_spans.resource.attributes
    assert (service.key, decoded_value(service.value)) == (
        "service.name",
        ("string_value", service_name),
    )
    (scope_spans,) = resource_spans.scope_spans
    assert scope_spans.scope.name == SCOPE_NAME and scope_spans.scope.version == ""
    assert len(scope_spans.spans) == len(spans)
    for decoded, span in zip(scope_spans.spans, spans, strict=True):
        assert_span(decoded, span)


def generated(service_name: str, spans: list[Span]) -> bytes:
    """The same request built field by field with the generated messages, serialized."""
    request = otlp.ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    service = resource_spans.resource.attributes.add(key="service.name")
    service.value.string_value = service_name
    scope_spans = resource_spans.scope_spans.add()
    scope_spans.scope.name = SCOPE_NAME
    for span in spans:
        message = scope_spans.spans.add(
            trace_id=span.trace_id.to_bytes(16, "big"),
            span_id=span.span_id.to_bytes(8, "big"),
            name=span.name,
            kind=otlp.Span.SPAN_KIND_SERVER,
            start_time_unix_nano=span.start_ns,
            end_time_unix_nano=span.end_ns,
        )
        if span.parent_id:
            message.parent_span_id = span.parent_id.to_bytes(8, "big")
        if span.error:
            message.status.code = otlp.Status.STATUS_CODE_ERROR
        for key, value in span.attributes.items():
            kind, typed = expected_value(value)
            setattr(message.attributes.add(key=key).value, kind, typed)
    return bytes(request.SerializeToString())


def test_a_batch_decodes_to_its_spans() -> None:
    # The route span twice: its attributes are encoded once and shared.
    spans = [ROUTE_SPAN, ODD_SPAN, ROUTE_SPAN._replace(span_id=7, parent_id=3, error=True)]
    assert_batch("gw", spans)
    assert encode_spans("gw", spans) == generated("gw", spans)


def test_an_empty_batch_still_names_the_service_and_scope() -> None:
    assert_batch("unknown_service:agw", [])
    assert encode_spans("svc", []) == generated("svc", [])


def test_values_equal_across_types_keep_their_own_encoding() -> None:
    # 1 == 1.0 == True in Python: the shared encodings must not mix them up.
    values: list[Value] = [1, 1.0, True, "1", 0, 0.0, False, ""]
    spans = [ROUTE_SPAN._replace(span_id=n + 1, attributes={"k": v}) for n, v in enumerate(values)]
    assert_batch("gw", spans)


# Text without lone surrogates: those are no UTF-8, which neither encoder can write.
texts = st.text(st.characters(codec="utf-8"), max_size=20)
values = st.one_of(
    texts,
    st.booleans(),
    st.integers(min_value=-(1 << 70), max_value=1 << 70),
    st.floats(allow_nan=True, allow_infinity=True),
)
spans = st.builds(
    Span,
    trace_id=st.integers(min_value=1, max_value=(1 << 128) - 1),
    span_id=st.integers(min_value=1, max_value=(1 << 64) - 1),
    parent_id=st.integers(min_value=0, max_value=(1 << 64) - 1),
    name=texts,
    start_ns=st.integers(min_value=0, max_value=(1 << 64) - 1),
    end_ns=st.integers(min_value=0, max_value=(1 << 64) - 1),
    error=st.booleans(),
    attributes=st.dictionaries(texts, values, max_size=6),
)


@settings(max_examples=150, deadline=None)
@given(service_name=texts, batch=st.lists(spans, max_size=5))
def test_any_batch_decodes_to_its_spans_and_matches_the_generated_code(
    service_name: str, batch: list[Span]
) -> None:
    assert_batch(service_name, batch)
    assert encode_spans(service_name, batch) == generated(service_name, batch)
