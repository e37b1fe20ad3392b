"""Compiling ``HttpConnectionManager.tracing`` for the proxy, and the per-request decisions
made from it, without a network.

Covers: the compiled values (Envoy's 100% defaults, percentages, the CelSampler's programs,
Envoy's ratio samplers, each kind of custom tag, the gRPC and HTTP export targets); refusals
with the field named (an unknown sampler extension, another tracer, the Tracing fields the
proxy does not implement, environment tags, unknown command operators, bad CEL, out-of-range
percentages, no collector); W3C ``traceparent`` parsing; sampling by percentage, by trace id
and by CEL (bool, number, error, other types); the upstream ``traceparent``; OTLP encoding
(attribute types, parent, status). The proxy path and export are in
tests/dataplane/test_tracing.py.
"""

from __future__ import annotations

from typing import Any

import pytest
from envoy.config.trace.v3 import opentelemetry_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from envoy.extensions.tracers.opentelemetry.samplers.v3 import (
    parent_based_sampler_pb2,
    trace_id_ratio_based_sampler_pb2,
)
from envoy.type.tracing.v3 import custom_tag_pb2

from agwproto.agw.filters.v1alpha1 import tracing_pb2
from agwproto.agw.otlp.v1.trace_pb2 import ExportTraceServiceRequest
from cel import compile_expression
from dataplane.config.listener import compile_listener
from dataplane.config.tracing import (
    CEL_SAMPLER,
    EXCHANGE_READERS,
    EXPORT_PATH,
    OPENTELEMETRY_TRACER,
    PARENT_BASED_SAMPLER,
    RATIO_SAMPLER,
    HeaderTag,
    TracingConfig,
)
from dataplane.errors import ConfigRejected, InvalidConfig, UnsupportedField, UnsupportedValue
from dataplane.otlp import encode_spans
from dataplane.request import RequestHead
from dataplane.tracing import Span, begin_trace, parse_traceparent, propagate
from tests.dataplane import resources as r

Tag: Any = custom_tag_pb2.CustomTag
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"


def otel_config(*, grpc: bool = True, **fields: Any) -> Any:
    config = opentelemetry_pb2.OpenTelemetryConfig(**fields)
    if grpc:
        config.grpc_service.envoy_grpc.cluster_name = "otel"
    return config


def tracing(otel: Any | None = None, **fields: Any) -> Any:
    result = hcm_pb2.HttpConnectionManager.Tracing(**fields)
    result.provider.name = OPENTELEMETRY_TRACER
    result.provider.typed_config.Pack(otel if otel is not None else otel_config())
    return result


def compiled(tracing_config: Any) -> TracingConfig:
    config, _ = compile_listener(r.listener("l", "127.0.20.1", 0, "rc", tracing=tracing_config))
    result = config.filter_chains[0].http.tracing
    assert result is not None
    return result


def test_defaults_are_envoys_and_grpc_exports_to_the_cluster() -> None:
    config = compiled(tracing(otel_config(service_name="gw")))
    assert (config.random_sampling, config.client_sampling) == (1.0, 1.0)
    assert config.random_program is None and config.client_program is None
    export = config.export
    assert (export.service_name, export.cluster, export.grpc) == ("gw", "otel", True)
    assert (export.path, export.authority, export.timeout) == (EXPORT_PATH, b"otel", 10.0)


def test_no_tracing_compiles_to_none() -> None:
    config, _ = compile_listener(r.listener("l", "127.0.20.1", 0, "rc"))
    assert config.filter_chains[0].http.tracing is None


def test_http_export_percentages_sampler_and_tags() -> None:
    otel = otel_config(grpc=False)
    otel.http_service.http_uri.uri = "http://collector.example:4318/v1/traces"
    otel.http_service.http_uri.cluster = "otel"
    otel.http_service.http_uri.timeout.FromMilliseconds(1500)
    otel.sampler.name = CEL_SAMPLER
    otel.sampler.typed_config.Pack(tracing_pb2.CelSampler(client_sampling="0.5"))
    config = compiled(
        tracing(
            otel,
            random_sampling={"value": 25.0},
            client_sampling={"value": 0.0},
            custom_tags=[
                Tag(tag="lit", literal=Tag.Literal(value="v")),
                Tag(tag="tenant", request_header=Tag.Header(name="X-Tenant")),
                Tag(tag="code", value="%RESPONSE_CODE%"),
                Tag(tag="host", value="%CEL(request.host)%"),
            ],
        )
    )
    assert (config.random_sampling, config.client_sampling) == (0.25, 0.0)
    assert config.random_program is None
    assert config.client_program is not None and config.client_program.source == "0.5"
    export = config.export
    assert (export.grpc, export.cluster, export.timeout) == (False, "otel", 1.5)
    assert (export.path, export.authority) == (b"/v1/traces", b"collector.example:4318")
    assert config.fixed_tags == (("lit", "v"), ("tenant", HeaderTag(b"x-tenant", "")))
    (code, code_source), (host, host_source) = config.computed_tags
    assert (code, code_source, host) == ("code", "response_code", "host")
    assert not isinstance(host_source, str) and host_source.source == "request.host"
    # The command operator's value is read straight from the exchange; the CEL stays a program.
    assert config.span_tags == (("code", EXCHANGE_READERS["response_code"]), ("host", host_source))
    assert config.needs_cel


def test_an_unknown_sampler_extension_is_refused() -> None:
    otel = otel_config()
    otel.sampler.name = "envoy.tracers.opentelemetry.samplers.always_on"
    otel.sampler.typed_config.Pack(opentelemetry_pb2.OpenTelemetryConfig())
    with pytest.raises(UnsupportedValue, match=r"OpenTelemetryConfig\.sampler"):
        compiled(tracing(otel))
    # The agw name with another type is no CelSampler either.
    otel.sampler.name = CEL_SAMPLER
    with pytest.raises(UnsupportedValue, match=r"OpenTelemetryConfig\.sampler"):
        compiled(tracing(otel))
    wrapping = otel_config()
    wrapping.sampler.name = PARENT_BASED_SAMPLER
    wrapping.sampler.typed_config.Pack(
        parent_based_sampler_pb2.ParentBasedSamplerConfig(
            wrapped_sampler={"name": "envoy.tracers.opentelemetry.samplers.always_on"}
        )
    )
    with pytest.raises(UnsupportedValue, match="wrapped_sampler"):
        compiled(tracing(wrapping))


def ratio_sampler(numerator: int) -> Any:
    """Envoy's trace_id_ratio_based sampler keeping numerator per million."""
    config = trace_id_ratio_based_sampler_pb2.TraceIdRatioBasedSamplerConfig()
    config.sampling_percentage.numerator = numerator
    config.sampling_percentage.denominator = config.sampling_percentage.MILLION
    sampler = otel_config().sampler
    sampler.name = RATIO_SAMPLER
    sampler.typed_config.Pack(config)
    return sampler


def test_envoys_ratio_samplers_narrow_the_percentages() -> None:
    alone = otel_config()
    alone.sampler.CopyFrom(ratio_sampler(250_000))
    config = compiled(tracing(alone, random_sampling={"value": 50.0}))
    assert (config.random_sampling, config.client_sampling, config.client_ratio) == (
        0.125,
        1.0,
        0.25,
    )
    parent_based = otel_config()
    parent_based.sampler.name = PARENT_BASED_SAMPLER
    parent_based.sampler.typed_config.Pack(
        parent_based_sampler_pb2.ParentBasedSamplerConfig(wrapped_sampler=ratio_sampler(10_000))
    )
    config = compiled(tracing(parent_based))
    assert (config.random_sampling, config.client_sampling, config.client_ratio) == (
        0.01,
        1.0,
        None,
    )


@pytest.mark.parametrize(
    ("fields", "error", "expected"),
    [
        ({"verbose": True}, UnsupportedField, r"HttpConnectionManager\.tracing\.verbose"),
        ({"overall_sampling": {"value": 50.0}}, UnsupportedField, "overall_sampling"),
        ({"spawn_upstream_span": {"value": True}}, UnsupportedField, "spawn_upstream_span"),
        ({"max_path_tag_length": {"value": 64}}, UnsupportedField, "max_path_tag_length"),
        ({"random_sampling": {"value": 101.0}}, InvalidConfig, "not a percentage"),
        (
            {"custom_tags": [Tag(tag="e", environment=Tag.Environment(name="HOME"))]},
            UnsupportedField,
            r"tracing\.custom_tags\.environment",
        ),
        ({"custom_tags": [Tag(tag="s", value="%START_TIME(%s)%")]}, UnsupportedValue, "value"),
        ({"custom_tags": [Tag(tag="c", value="%CEL(request.)%")]}, InvalidConfig, "value"),
        ({"custom_tags": [Tag(value="%PROTOCOL%")]}, InvalidConfig, "tag name"),
    ],
)
def test_what_the_proxy_does_not_implement_is_refused(
    fields: dict[str, Any], error: type[ConfigRejected], expected: str
) -> None:
    with pytest.raises(error, match=expected):
        compiled(tracing(**fields))


def test_another_tracer_or_no_collector_is_refused() -> None:
    zipkin = hcm_pb2.HttpConnectionManager.Tracing()
    zipkin.provider.name = "envoy.tracers.zipkin"
    zipkin.provider.typed_config.Pack(otel_config())
    with pytest.raises(UnsupportedValue, match=r"provider\.name"):
        compiled(zipkin)
    nowhere = tracing()
    nowhere.provider.typed_config.Pack(opentelemetry_pb2.OpenTelemetryConfig())
    with pytest.raises(InvalidConfig, match="grpc_service or http_service"):
        compiled(nowhere)
    google = otel_config()
    google.grpc_service.google_grpc.target_uri = "collector:4317"
    with pytest.raises(UnsupportedField, match="google_grpc"):
        compiled(tracing(google))
    both = otel_config()
    both.http_service.http_uri.cluster = "otel"
    with pytest.raises(InvalidConfig, match="not both"):
        compiled(tracing(both))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (f"00-{TRACE_ID}-{PARENT_ID}-01", (int(TRACE_ID, 16), int(PARENT_ID, 16), True)),
        (f"00-{TRACE_ID}-{PARENT_ID}-00", (int(TRACE_ID, 16), int(PARENT_ID, 16), False)),
        (f"00-{TRACE_ID}-{PARENT_ID}-03", (int(TRACE_ID, 16), int(PARENT_ID, 16), True)),
        # A later version may carry more fields; version 00 may not.
        (f"01-{TRACE_ID}-{PARENT_ID}-01-extra", (int(TRACE_ID, 16), int(PARENT_ID, 16), True)),
        (f"00-{TRACE_ID}-{PARENT_ID}-01-extra", None),
        (f"ff-{TRACE_ID}-{PARENT_ID}-01", None),
        (f"00-{TRACE_ID.upper()}-{PARENT_ID}-01", None),
        (f"00-{'0' * 32}-{PARENT_ID}-01", None),
        (f"00-{TRACE_ID}-{'0' * 16}-01", None),
        (f"00-{TRACE_ID[:-1]}-{PARENT_ID}-01", None),
        (f"00-{TRACE_ID},00-{TRACE_ID}-{PARENT_ID}-01", None),
        ("", None),
    ],
)
def test_traceparent_parsing(value: str, expected: tuple[int, int, bool] | None) -> None:
    assert parse_traceparent(value.encode()) == expected


def head(*headers: tuple[str, str]) -> RequestHead:
    fields = [(name.encode(), value.encode()) for name, value in headers]
    return RequestHead(b"GET", b"/", None, b"example.com", b"http", fields)


def sampling(
    random: float = 1.0,
    client: float = 1.0,
    random_cel: str = "",
    client_cel: str = "",
    client_ratio: float | None = None,
) -> TracingConfig:
    export = compiled(tracing()).export
    return TracingConfig(
        export,
        random_sampling=random,
        client_sampling=client,
        random_program=compile_expression(random_cel) if random_cel else None,
        client_program=compile_expression(client_cel) if client_cel else None,
        client_ratio=client_ratio,
    )


SAMPLED = ("traceparent", f"00-{TRACE_ID}-{PARENT_ID}-01")
UNSAMPLED = ("traceparent", f"00-{TRACE_ID}-{PARENT_ID}-00")


def test_percentages_decide_new_and_continued_traces() -> None:
    new = begin_trace(sampling(), head(), "HTTP/1.1")
    assert new is not None and new.parent_id == 0 and not new.replaces
    child = begin_trace(sampling(random=0.0), head(SAMPLED), "HTTP/1.1")
    assert child is not None and child.trace_id == int(TRACE_ID, 16)
    assert child.parent_id == int(PARENT_ID, 16) and child.replaces
    assert begin_trace(sampling(random=0.0), head(), "HTTP/1.1") is None
    assert begin_trace(sampling(client=0.0), head(SAMPLED), "HTTP/1.1") is None
    assert begin_trace(sampling(), head(UNSAMPLED), "HTTP/1.1") is None
    # An invalid traceparent starts a new trace, whose header replaces it upstream.
    invalid = begin_trace(sampling(), head(("traceparent", "garbage")), "HTTP/1.1")
    assert invalid is not None and invalid.parent_id == 0 and invalid.replaces
    decided = [begin_trace(sampling(random=0.5), head(), "HTTP/1.1") for _ in range(400)]
    assert 100 < sum(trace is not None for trace in decided) < 300


def test_a_ratio_keeps_client_traces_by_their_id() -> None:
    # The decision reads the trace id's low 64 bits: below a quarter of 2**64, or not.
    low = ("traceparent", f"00-{'f' * 16}{'0' * 15}1-{PARENT_ID}-01")
    high = ("traceparent", f"00-{'0' * 16}{'f' * 16}-{PARENT_ID}-01")
    config = sampling(client_ratio=0.25)
    assert all(begin_trace(config, head(low), "HTTP/1.1") is not None for _ in range(20))
    assert all(begin_trace(config, head(high), "HTTP/1.1") is None for _ in range(20))


@pytest.mark.parametrize(
    ("expression", "recorded"),
    [
        ("true", True),
        ("false", False),
        ("1", True),
        ("1.0", True),
        ("0.0", False),
        ("0", False),
        ('"yes"', False),
        ('request.headers["absent"] == "x"', False),
        ("response.code == 200", False),
        ('request.method == "GET"', True),
    ],
)
def test_cel_sampling_values(expression: str, recorded: bool) -> None:
    traced = begin_trace(sampling(random=0.0, random_cel=expression), head(), "HTTP/1.1")
    assert (traced is not None) is recorded
    continued = begin_trace(sampling(client=0.0, client_cel=expression), head(SAMPLED), "HTTP/2")
    assert (continued is not None) is recorded


def test_the_upstream_gets_the_span_as_parent() -> None:
    trace = begin_trace(sampling(), head(SAMPLED, ("tracestate", "k=v")), "HTTP/1.1")
    assert trace is not None
    headers = [(b"traceparent", SAMPLED[1].encode()), (b"tracestate", b"k=v")]
    propagate(trace, headers)
    expected = f"00-{TRACE_ID}-{trace.span_id:016x}-01".encode()
    assert headers == [(b"tracestate", b"k=v"), (b"traceparent", expected)]


def test_attribute_values_keep_their_otlp_types() -> None:
    values = {"t": True, "i": 1, "f": 1.0, "s": "1", "big": 1 << 64}
    spans = [
        Span(1, 2, 3, "GET /", 10, 20, True, values),
        Span(1, 4, 0, "GET /", 10, 20, False, {}),
    ]
    request = ExportTraceServiceRequest.FromString(encode_spans("svc", spans))
    first, second = request.resource_spans[0].scope_spans[0].spans
    decoded = {a.key: (a.value.WhichOneof("value"), a.value) for a in first.attributes}
    assert {key: kind for key, (kind, _) in decoded.items()} == {
        "t": "bool_value",
        "i": "int_value",
        "f": "double_value",
        "s": "string_value",
        "big": "string_value",
    }
    assert decoded["big"][1].string_value == str(1 << 64)
    assert (first.parent_span_id, second.parent_span_id) == ((3).to_bytes(8, "big"), b"")
    assert (first.status.code, second.status.code) == (2, 0)  # STATUS_CODE_ERROR, UNSET
