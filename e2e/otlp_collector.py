"""An OpenTelemetry collector for tests: OTLP/gRPC (``TraceService/Export`` on grpc.aio) and
OTLP/HTTP (``POST /v1/traces``, binary protobuf) on one loopback address, decoded with agw's
wire-compatible OTLP messages (Envoy's exports, encoded by the real OTLP protos, check that
they agree) and kept as flat ``ReceivedSpan`` records."""

from __future__ import annotations

import threading
from concurrent import futures
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc

from agwproto.agw.otlp.v1 import trace_pb2 as otlp


@dataclass(frozen=True)
class ReceivedSpan:
    trace_id: str
    span_id: str
    parent_span_id: str
    name: str
    service_name: str
    attributes: dict[str, Any]
    # "grpc" or "http": how it arrived.
    transport: str


def _value(any_value: Any) -> Any:
    kind = any_value.WhichOneof("value")
    return getattr(any_value, kind) if kind is not None else None


def spans_of(request: Any, transport: str) -> list[ReceivedSpan]:
    found = []
    for resource_spans in request.resource_spans:
        resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                found.append(
                    ReceivedSpan(
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_span_id=span.parent_span_id.hex(),
                        name=span.name,
                        service_name=str(resource.get("service.name", "")),
                        attributes={a.key: _value(a.value) for a in span.attributes},
                        transport=transport,
                    )
                )
    return found


class Collector:
    """Both OTLP transports, each on its own port of ``host``."""

    def __init__(self, host: str) -> None:
        self.host = host
        self.grpc_port = 0
        self.http_port = 0
        self._lock = threading.Lock()
        self._spans: list[ReceivedSpan] = []
        self._grpc = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        handler = grpc.unary_unary_rpc_method_handler(
            self._export,
            request_deserializer=otlp.ExportTraceServiceRequest.FromString,
            response_serializer=otlp.ExportTraceServiceResponse.SerializeToString,
        )
        service = "opentelemetry.proto.collector.trace.v1.TraceService"
        self._grpc.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(service, {"Export": handler}),)
        )
        self._http = ThreadingHTTPServer((host, 0), self._handler())
        self._http_thread = threading.Thread(target=self._http.serve_forever, daemon=True)

    @property
    def spans(self) -> list[ReceivedSpan]:
        with self._lock:
            return list(self._spans)

    def __enter__(self) -> Collector:
        self.grpc_port = self._grpc.add_insecure_port(f"{self.host}:0")
        self._grpc.start()
        self.http_port = self._http.server_address[1]
        self._http_thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.shutdown()
        self._http.server_close()
        self._grpc.stop(grace=None).wait(10)

    def _export(self, request: Any, context: Any) -> Any:
        self._keep(spans_of(request, "grpc"))
        return otlp.ExportTraceServiceResponse()

    def _keep(self, spans: list[ReceivedSpan]) -> None:
        with self._lock:
            self._spans.extend(spans)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self._body()
                ok = self.path == "/v1/traces"
                if ok:
                    request = otlp.ExportTraceServiceRequest.FromString(body)
                    collector._keep(spans_of(request, "http"))
                answer = otlp.ExportTraceServiceResponse().SerializeToString()
                self.send_response(200 if ok else 404)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def _body(self) -> bytes:
                # Envoy's exporter sends its body chunked.
                if "chunked" not in self.headers.get("transfer-encoding", ""):
                    return self.rfile.read(int(self.headers.get("content-length", "0")))
                chunks = []
                for _ in range(10_000):
                    size = int(self.rfile.readline().split(b";")[0], 16)
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
                    if size == 0:
                        break
                return b"".join(chunks)

            def log_message(self, *args: Any) -> None:
                pass

        return Handler
