"""The proxy's side of AgentgatewayPolicy ``frontend.tracing``: spans of real requests reach a
real OTLP collector on loopback.

Covers: a request without ``traceparent`` (random sampling 100%) gives one SERVER span with the
custom tags (CEL, command operator, literal, request header) and ``http.response.status_code``,
exported over OTLP/gRPC (a grpc.aio TraceService) and over OTLP/HTTP (an asyncio HTTP server),
on HTTP/1.1 and HTTP/2; the backend's ``traceparent`` names that span; an incoming sampled
context is continued (same trace, parent = incoming span) with ``tracestate`` kept; an
unsampled one is passed through unrecorded; random 0% and a CelSampler expression decide which
requests are recorded; a 5xx span has status ERROR; a full batch is exported at once; a full
queue drops and counts; a new config's exporter takes over; a collector that is down fails
no request.

Absence of a span is shown without sleeping: each worker's queue is FIFO and exported in order,
so once the span of a request sent *after* the untraced one has arrived, a span of the untraced
one would have arrived too. Leaves out the config compiler's refusals and the sampling corner
cases (tests/dataplane/test_tracing_config.py) and Envoy (e2e).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import grpc
import httptools
import httpx
import pytest
from envoy.config.route.v3 import route_components_pb2
from envoy.config.trace.v3 import opentelemetry_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from envoy.type.tracing.v3 import custom_tag_pb2

from agwproto.agw.filters.v1alpha1 import tracing_pb2
from agwproto.agw.otlp.v1 import trace_pb2 as otlp
from dataplane.config.tracing import CEL_SAMPLER, EXPORT_PATH, OPENTELEMETRY_TRACER, ExportTarget
from dataplane.proxy import Proxy
from dataplane.span_export import SpanExporter
from dataplane.tracing import Span as SpanRecord
from dataplane.upstream.balancer import ClusterBalancer
from tests.dataplane import resources as r
from tests.dataplane.backend import EchoBackend
from tests.dataplane.client import fetch, get
from tests.dataplane.conftest import Backends, Serve, free_port
from tests.envoy_harness import wait_for

COLLECTOR_HOST = "127.0.20.60"
OTLP_HTTP_URI = "http://collector.example:4318/v1/traces"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
Span = Any  # opentelemetry.proto.trace.v1.trace_pb2.Span


@dataclass
class Collected:
    """What a collector received: every ExportTraceServiceRequest, and their spans in order."""

    requests: list[Any] = field(default_factory=list)
    http_heads: list[tuple[bytes, dict[bytes, bytes]]] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def record(self, request: Any) -> None:
        self.requests.append(request)
        self.arrived.set()

    @property
    def spans(self) -> list[Span]:
        return [
            span
            for request in self.requests
            for resource in request.resource_spans
            for scope in resource.scope_spans
            for span in scope.spans
        ]

    async def wait_for_spans(self, count: int, timeout: float = 5.0) -> list[Span]:
        async with asyncio.timeout(timeout):
            while len(self.spans) < count:
                self.arrived.clear()
                await self.arrived.wait()
        return self.spans


def trace_service(collected: Collected) -> grpc.GenericRpcHandler:
    """OTLP's TraceService/Export, recording each request into ``collected``."""

    async def export(request: Any, context: Any) -> Any:
        collected.record(request)
        return otlp.ExportTraceServiceResponse()

    handler = grpc.unary_unary_rpc_method_handler(
        export,
        request_deserializer=otlp.ExportTraceServiceRequest.FromString,
        response_serializer=otlp.ExportTraceServiceResponse.SerializeToString,
    )
    name = "opentelemetry.proto.collector.trace.v1.TraceService"
    return grpc.method_handlers_generic_handler(name, {"Export": handler})


@pytest.fixture
async def grpc_collector() -> AsyncIterator[tuple[Collected, int]]:
    collected = Collected()
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((trace_service(collected),))
    port = server.add_insecure_port(f"{COLLECTOR_HOST}:0")
    await server.start()
    yield collected, port
    await server.stop(grace=None)


class _OtlpHttp(asyncio.Protocol):
    """One connection to the OTLP/HTTP collector: each POST body is an export request."""

    def __init__(self, collected: Collected) -> None:
        self.collected = collected
        self.parser = httptools.HttpRequestParser(self)
        self.headers: dict[bytes, bytes] = {}
        self.body = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.lower()] = value

    def on_body(self, body: bytes) -> None:
        self.body += body

    def on_message_complete(self) -> None:
        self.collected.http_heads.append((self.parser.get_method(), dict(self.headers)))
        self.collected.record(otlp.ExportTraceServiceRequest.FromString(self.body))
        assert self.transport is not None
        self.transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")


@pytest.fixture
async def http_collector() -> AsyncIterator[tuple[Collected, int]]:
    collected = Collected()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _OtlpHttp(collected), COLLECTOR_HOST, 0)
    yield collected, server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()


def tracing(
    *,
    grpc_export: bool = True,
    random: float | None = None,
    sampler: tracing_pb2.CelSampler | None = None,
    service_name: str = "gw-test",
) -> Any:
    """HttpConnectionManager.tracing as the translator writes it, exporting to cluster otel."""
    otel = opentelemetry_pb2.OpenTelemetryConfig(service_name=service_name)
    if grpc_export:
        otel.grpc_service.envoy_grpc.cluster_name = "otel"
        otel.grpc_service.timeout.FromSeconds(2)
    else:
        otel.http_service.http_uri.uri = OTLP_HTTP_URI
        otel.http_service.http_uri.cluster = "otel"
        otel.http_service.http_uri.timeout.FromSeconds(2)
    if sampler is not None:
        otel.sampler.name = CEL_SAMPLER
        otel.sampler.typed_config.Pack(sampler)
    Tag: Any = custom_tag_pb2.CustomTag
    result = hcm_pb2.HttpConnectionManager.Tracing(
        custom_tags=[
            Tag(tag="host", value="%CEL(request.host)%"),
            Tag(tag="method", value="%REQ(:METHOD)%"),
            Tag(tag="env", literal=Tag.Literal(value="test")),
            Tag(tag="tenant", request_header=Tag.Header(name="x-tenant", default_value="none")),
        ]
    )
    result.provider.name = OPENTELEMETRY_TRACER
    result.provider.typed_config.Pack(otel)
    if random is not None:
        result.random_sampling.value = random
    return result


async def serve_traced(
    serve: Serve, backends: Backends, collector_port: int, **tracing_options: Any
) -> tuple[str, int, EchoBackend]:
    web = await backends("web")
    fail = r.Route(
        name="fail",
        match=r.RouteMatch(prefix="/fail"),
        direct_response=route_components_pb2.DirectResponseAction(status=503),
    )
    host, port = await serve(
        fail,
        r.to_cluster("web"),
        clusters={"web": [web], "otel": [(COLLECTOR_HOST, collector_port)]},
        tracing=tracing(**tracing_options),
    )
    return host, port, web


def attributes(span: Span) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for attribute in span.attributes:
        value = attribute.value
        found[attribute.key] = getattr(value, value.WhichOneof("value"))
    return found


def sent_traceparent(web: EchoBackend, index: int = -1) -> str | None:
    return web.received[index].header("traceparent")


def names_span(traceparent: str | None, span: Span) -> bool:
    """The backend's traceparent carries the span's trace id and (as parent) its span id."""
    assert traceparent is not None
    version, trace_id, parent_id, flags = traceparent.split("-")
    return (version, flags) == ("00", "01") and (trace_id, parent_id) == (
        span.trace_id.hex(),
        span.span_id.hex(),
    )


async def test_new_trace_is_exported_over_grpc(
    serve: Serve, backends: Backends, grpc_collector: tuple[Collected, int]
) -> None:
    collected, collector_port = grpc_collector
    host, port, web = await serve_traced(serve, backends, collector_port)
    response = await fetch(host, port, get("/x?q=1", headers={"x-tenant": "acme"}))
    assert response.status == 200
    (span,) = await collected.wait_for_spans(1)
    assert names_span(sent_traceparent(web), span)
    assert span.parent_span_id == b"" and len(span.trace_id) == 16 and len(span.span_id) == 8
    assert span.name == "GET web/" and span.kind == span.SPAN_KIND_SERVER
    assert 0 < span.start_time_unix_nano <= span.end_time_unix_nano
    assert span.status.code == span.status.STATUS_CODE_UNSET
    assert attributes(span) == {
        "host": "example.com",
        "method": "GET",
        "env": "test",
        "tenant": "acme",
        "http.response.status_code": 200,
    }
    (request,) = collected.requests
    (resource,) = request.resource_spans
    assert [(a.key, a.value.string_value) for a in resource.resource.attributes] == [
        ("service.name", "gw-test")
    ]
    assert [scope.scope.name for scope in resource.scope_spans] == ["agw"]


async def test_new_trace_is_exported_over_http(
    serve: Serve, backends: Backends, http_collector: tuple[Collected, int]
) -> None:
    collected, collector_port = http_collector
    host, port, web = await serve_traced(serve, backends, collector_port, grpc_export=False)
    assert (await fetch(host, port, get("/"))).status == 200
    assert (await fetch(host, port, get("/fail"))).status == 503
    ok, failed = await collected.wait_for_spans(2)
    assert names_span(sent_traceparent(web), ok)
    assert attributes(ok) == {
        "host": "example.com",
        "method": "GET",
        "env": "test",
        "tenant": "none",
        "http.response.status_code": 200,
    }
    assert failed.name == "GET fail" and failed.status.code == failed.status.STATUS_CODE_ERROR
    assert attributes(failed)["http.response.status_code"] == 503
    method, headers = collected.http_heads[0]
    assert method == b"POST"
    assert headers[b"content-type"] == b"application/x-protobuf"
    assert headers[b"host"] == b"collector.example:4318"


async def test_http2_requests_are_traced_alike(
    serve: Serve, backends: Backends, grpc_collector: tuple[Collected, int]
) -> None:
    collected, collector_port = grpc_collector
    host, port, web = await serve_traced(serve, backends, collector_port)
    async with httpx.AsyncClient(http1=False, http2=True) as client:
        response = await client.get(f"http://{host}:{port}/h2", headers={"host": "example.com"})
    assert response.http_version == "HTTP/2" and response.status_code == 200
    (span,) = await collected.wait_for_spans(1)
    assert names_span(sent_traceparent(web), span)
    assert attributes(span)["method"] == "GET" and attributes(span)["host"] == "example.com"


async def test_sampled_context_is_continued(
    serve: Serve, backends: Backends, grpc_collector: tuple[Collected, int]
) -> None:
    collected, collector_port = grpc_collector
    host, port, web = await serve_traced(serve, backends, collector_port, random=0.0)
    incoming = {"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01", "tracestate": "vendor=opaque"}
    assert (await fetch(host, port, get("/", headers=incoming))).status == 200
    (span,) = await collected.wait_for_spans(1)
    assert span.trace_id.hex() == TRACE_ID and span.parent_span_id.hex() == PARENT_ID
    assert span.span_id.hex() != PARENT_ID
    assert web.received[0].header_values("traceparent") == [
        f"00-{TRACE_ID}-{span.span_id.hex()}-01"
    ]
    assert web.received[0].header("tracestate") == "vendor=opaque"


async def test_unsampled_context_passes_through_unrecorded(
    serve: Serve, backends: Backends, grpc_collector: tuple[Collected, int]
) -> None:
    collected, collector_port = grpc_collector
    host, port, web = await serve_traced(serve, backends, collector_port)
    unsampled = f"00-{TRACE_ID}-{PARENT_ID}-00"
    assert (await fetch(host, port, get("/", headers={"traceparent": unsampled}))).status == 200
    assert (await fetch(host, port, get("/"))).status == 200
    # FIFO per worker: the second request's span arriving means the first would have too.
    (span,) = await collected.wait_for_spans(1)
    assert names_span(sent_traceparent(web, 1), span)
    assert sent_traceparent(web, 0) == unsampled


async def test_random_zero_percent_records_nothing(
    serve: Serve, backends: Backends, grpc_collector: tuple[Collected, int]
) -> None:
    collected, collector_port = grpc_collector
    host, port, web = await serve_traced(serve, backends, collector_port, random=0.0)
    assert (await fetch(host, port, get("/"))).status == 200
    sampled = {"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"}
    assert (await fetch(host, port, get("/", headers=sampled))).status == 200
    # FIFO per worker: the sampled request's span arriving means the first would have too.
    (span,) = await collected.wait_for_spans(1)
    assert span.trace_id.hex() == TRACE_ID
    assert sent_traceparent(web, 0) is None


async def test_cel_sampler_picks_the_requests(
    serve: Serve, backends: Backends, grpc_collector: tuple[Collected, int]
) -> None:
    collected, collector_port = grpc_collector
    sampler = tracing_pb2.CelSampler(random_sampling='request.headers["x-trace"] == "yes"')
    host, port, web = await serve_traced(serve, backends, collector_port, sampler=sampler)
    # No header is an evaluation error: not sampled, like "no".
    for headers in ({}, {"x-trace": "no"}, {"x-trace": "yes"}):
        assert (await fetch(host, port, get("/", headers=headers))).status == 200
    # FIFO per worker: the last request's span arriving means the others' would have too.
    (span,) = await collected.wait_for_spans(1)
    assert names_span(sent_traceparent(web, 2), span)
    assert sent_traceparent(web, 0) is None and sent_traceparent(web, 1) is None


async def test_a_new_config_exports_through_its_own_exporter(
    serve: Serve, backends: Backends, grpc_collector: tuple[Collected, int]
) -> None:
    collected, collector_port = grpc_collector
    host, port, _ = await serve_traced(serve, backends, collector_port)
    assert (await fetch(host, port, get("/"))).status == 200
    await collected.wait_for_spans(1)
    await serve_traced(serve, backends, collector_port, service_name="gw-renamed")
    assert (await fetch(host, port, get("/"))).status == 200
    await collected.wait_for_spans(2)
    services = [
        resource.resource.attributes[0].value.string_value
        for request in collected.requests
        for resource in request.resource_spans
    ]
    assert services == ["gw-test", "gw-renamed"]


async def test_collector_down_fails_no_request(
    proxy: Proxy, serve: Serve, backends: Backends
) -> None:
    closed_port = free_port(COLLECTOR_HOST)
    host, port, web = await serve_traced(serve, backends, closed_port)
    for _ in range(3):
        assert (await fetch(host, port, get("/"))).status == 200
    await wait_for(lambda: proxy.stats.span_exports_failed >= 1, timeout=5.0)
    assert (await fetch(host, port, get("/"))).status == 200
    assert proxy.stats.spans_exported == 0 and len(web.received) == 4


async def test_a_full_batch_leaves_at_once_and_a_full_queue_drops(
    proxy: Proxy, grpc_collector: tuple[Collected, int]
) -> None:
    collected, collector_port = grpc_collector
    config = r.compiled([], [], {"otel": [(COLLECTOR_HOST, collector_port)]})
    target = ExportTarget("gw-test", "otel", grpc=True, path=EXPORT_PATH, authority=b"otel")
    # An interval no test waits for: only a full batch can trigger this export.
    exporter = SpanExporter(target, proxy.stats, interval=3600.0, capacity=3, batch_size=2)
    exporter.bind({"otel": ClusterBalancer(config.clusters["otel"], proxy.pools)})
    try:
        for span_id in (1, 2):
            exporter.add(SpanRecord(7, span_id, 0, "GET /", 1, 2, False, {"n": span_id}))
        spans = await collected.wait_for_spans(2)
        assert [int.from_bytes(span.span_id, "big") for span in spans] == [1, 2]
        assert attributes(spans[1]) == {"n": 2}
        # No await in between: the exporter cannot take any of these before the fourth.
        for span_id in range(3, 7):
            exporter.add(SpanRecord(7, span_id, 0, "GET /", 1, 2, False, {}))
        assert proxy.stats.spans_dropped == 1
    finally:
        await exporter.close()
