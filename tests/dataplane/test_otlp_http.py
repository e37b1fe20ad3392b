"""OTLP/HTTP span export over the exporter's keep-alive connection (``dataplane.otlp_http``),
against a real HTTP/1.1 collector on loopback that counts the connections it accepts and the
requests each carried, and can misbehave in the ways collectors and their proxies do.

Covers: many exports over one connection; a collector that closes the connection after each
answer (every batch still arrives, none fails); one that closes an idle connection only when
the next request arrives (the keep-alive race: that request is sent once more on a fresh
connection); the retry happening once and never for a fresh connection; ``Connection: close``
answers honoured although the collector keeps the connection open; a new endpoint getting a
new connection and the old one closed; an export that times out not leaving its connection
for the next; an error status failing the export without dropping the connection; and reuse
over TLS (one handshake for several exports). Leaves out OTLP/gRPC, batching and the proxy's
request path (test_tracing.py), TLS refusals (test_tracing_tls.py) and the encoding
(test_otlp_encoding.py).
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from agwproto.agw.otlp.v1 import trace_pb2 as otlp
from dataplane.config import XdsResources, compile_config
from dataplane.config.runtime import RuntimeConfig
from dataplane.config.tracing import ExportTarget
from dataplane.proxy import Proxy
from dataplane.span_export import SpanExporter
from dataplane.tracing import Span
from dataplane.upstream.balancer import ClusterBalancer
from tests.dataplane import resources as r
from tests.dataplane.service_tls import SERVICE_CERT, SERVICE_NAME, secrets, server_context
from tests.dataplane.service_tls import tls_cluster as service_tls_cluster
from tests.envoy_harness import wait_for

COLLECTOR_HOST = "127.0.20.62"
OTHER_COLLECTOR_HOST = "127.0.20.63"
# Bounds the requests one collector connection serves in a test.
MAX_REQUESTS = 100
MAX_HEAD = 16384
TARGET = ExportTarget(
    "gw-test", "otel", grpc=False, path=b"/v1/traces", authority=b"collector.example:4318"
)


@dataclass
class Collector:
    """An OTLP/HTTP collector. Per accepted connection: how many requests it answered, how
    many it met by closing the connection, and whether the client closed it.

    ``answers`` bounds the answers in all (later requests are met by closing their connection
    unanswered); ``answers_per_connection`` bounds them per connection (a later request on it
    is met the same way: the idle-close race made certain); ``close_after_answer`` closes
    after each answer without saying so; ``announce_close`` answers ``Connection: close`` and
    leaves the closing to the client; ``stall`` leaves the first connection's request
    unanswered until the client gives up."""

    answers: int | None = None
    answers_per_connection: int | None = None
    close_after_answer: bool = False
    announce_close: bool = False
    stall: bool = False
    status: int = 200
    port: int = 0
    answered: list[int] = field(default_factory=list)
    refused: list[int] = field(default_factory=list)
    closed_by_client: list[bool] = field(default_factory=list)
    spans: list[int] = field(default_factory=list)
    server_names: list[str | None] = field(default_factory=list)
    answered_in_all: int = 0

    @property
    def connections(self) -> int:
        return len(self.answered)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        index = self.connections
        self.answered.append(0)
        self.refused.append(0)
        self.closed_by_client.append(False)
        try:
            for _ in range(MAX_REQUESTS):
                head = await reader.readuntil(b"\r\n\r\n")
                if len(head) > MAX_HEAD:
                    return
                body = await reader.readexactly(content_length(head))
                if self.stall and index == 0:
                    await reader.read()  # until the client gives up and closes
                    self.closed_by_client[index] = True
                    return
                if not self._answers_left(index):
                    self.refused[index] += 1
                    return
                self._record(index, body)
                writer.write(self._answer())
                await writer.drain()
                if self.close_after_answer:
                    return
        except asyncio.IncompleteReadError:
            self.closed_by_client[index] = True
        except ConnectionError:
            return
        finally:
            writer.close()

    def _answers_left(self, index: int) -> bool:
        per_connection = self.answers_per_connection
        if per_connection is not None and self.answered[index] >= per_connection:
            return False
        return self.answers is None or self.answered_in_all < self.answers

    def _record(self, index: int, body: bytes) -> None:
        request = otlp.ExportTraceServiceRequest.FromString(body)
        for resource in request.resource_spans:
            for scope in resource.scope_spans:
                self.spans.extend(int.from_bytes(span.span_id, "big") for span in scope.spans)
        self.answered[index] += 1
        self.answered_in_all += 1

    def _answer(self) -> bytes:
        close = b"connection: close\r\n" if self.announce_close else b""
        return b"HTTP/1.1 %d OK\r\ncontent-length: 0\r\n%s\r\n" % (self.status, close)


def content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


@pytest.fixture
async def servers() -> AsyncIterator[list[asyncio.Server]]:
    started: list[asyncio.Server] = []
    yield started
    for server in started:
        server.close()
        await server.wait_closed()


async def start(
    servers: list[asyncio.Server],
    collector: Collector,
    host: str = COLLECTOR_HOST,
    context: ssl.SSLContext | None = None,
) -> Collector:
    server = await asyncio.start_server(collector.handle, host, 0, ssl=context)
    servers.append(server)
    collector.port = int(server.sockets[0].getsockname()[1])
    return collector


def balancers(proxy: Proxy, config: RuntimeConfig) -> dict[str, ClusterBalancer]:
    return {"otel": ClusterBalancer(config.clusters["otel"], proxy.pools)}


def cleartext(
    proxy: Proxy, collector: Collector, host: str = COLLECTOR_HOST
) -> dict[str, ClusterBalancer]:
    return balancers(proxy, r.compiled([], [], {"otel": [(host, collector.port)]}))


@pytest.fixture
async def exporter(proxy: Proxy) -> AsyncIterator[SpanExporter]:
    """Exports each span as its own batch, at once (never on the interval)."""
    instance = SpanExporter(TARGET, proxy.stats, interval=3600.0, batch_size=1)
    yield instance
    await instance.close()


async def export(exporter: SpanExporter, span_id: int) -> None:
    """Hand over one span and wait until its export succeeded or failed."""
    stats = exporter.stats
    done = stats.spans_exported + stats.span_exports_failed
    exporter.add(Span(7, span_id, 0, "POST /v1/traces", 1, 2, False, {"n": span_id}))
    await wait_for(
        lambda: stats.spans_exported + stats.span_exports_failed > done,
        timeout=5.0,
        message=f"the export of span {span_id}",
    )


async def test_exports_share_one_connection(
    proxy: Proxy, servers: list[asyncio.Server], exporter: SpanExporter
) -> None:
    collector = await start(servers, Collector())
    exporter.bind(cleartext(proxy, collector))
    for span_id in range(1, 6):
        await export(exporter, span_id)
    assert collector.spans == [1, 2, 3, 4, 5]
    assert collector.answered == [5]
    assert (proxy.stats.spans_exported, proxy.stats.span_exports_failed) == (5, 0)


async def test_a_collector_closing_after_each_answer_gets_every_batch(
    proxy: Proxy, servers: list[asyncio.Server], exporter: SpanExporter
) -> None:
    collector = await start(servers, Collector(close_after_answer=True))
    exporter.bind(cleartext(proxy, collector))
    for span_id in range(1, 5):
        await export(exporter, span_id)
    assert collector.spans == [1, 2, 3, 4] and collector.answered == [1, 1, 1, 1]
    assert proxy.stats.span_exports_failed == 0


async def test_a_request_meeting_the_idle_close_goes_once_more_afresh(
    proxy: Proxy, servers: list[asyncio.Server], exporter: SpanExporter
) -> None:
    # Each connection stays open after its answer, then closes as the next request arrives.
    collector = await start(servers, Collector(answers_per_connection=1))
    exporter.bind(cleartext(proxy, collector))
    for span_id in range(1, 4):
        await export(exporter, span_id)
    assert collector.spans == [1, 2, 3] and proxy.stats.span_exports_failed == 0
    # Each later export tried the kept connection first, then a fresh one.
    assert collector.answered == [1, 1, 1] and collector.refused == [1, 1, 0]


async def test_the_retry_is_once_and_never_for_a_fresh_connection(
    proxy: Proxy, servers: list[asyncio.Server], exporter: SpanExporter
) -> None:
    collector = await start(servers, Collector(answers=1))
    exporter.bind(cleartext(proxy, collector))
    await export(exporter, 1)
    assert collector.connections == 1 and proxy.stats.span_exports_failed == 0
    # The kept connection is refused, then the fresh one: the export fails, no third try.
    await export(exporter, 2)
    assert collector.refused == [1, 1] and proxy.stats.span_exports_failed == 1
    # No connection is kept after a failure; a fresh connection's failure is final.
    await export(exporter, 3)
    assert collector.refused == [1, 1, 1] and proxy.stats.span_exports_failed == 2
    assert collector.spans == [1]


async def test_connection_close_answers_are_honoured(
    proxy: Proxy, servers: list[asyncio.Server], exporter: SpanExporter
) -> None:
    collector = await start(servers, Collector(announce_close=True))
    exporter.bind(cleartext(proxy, collector))
    for span_id in range(1, 4):
        await export(exporter, span_id)
    assert collector.spans == [1, 2, 3] and collector.answered == [1, 1, 1]
    # The collector left each connection open: the exporter closed them.
    await wait_for(lambda: all(collector.closed_by_client), timeout=5.0)


async def test_a_new_endpoint_gets_a_new_connection(
    proxy: Proxy, servers: list[asyncio.Server], exporter: SpanExporter
) -> None:
    first = await start(servers, Collector())
    second = await start(servers, Collector(), OTHER_COLLECTOR_HOST)
    exporter.bind(cleartext(proxy, first))
    await export(exporter, 1)
    await export(exporter, 2)
    exporter.bind(cleartext(proxy, second, OTHER_COLLECTOR_HOST))
    await export(exporter, 3)
    await export(exporter, 4)
    assert (first.spans, first.answered) == ([1, 2], [2])
    assert (second.spans, second.answered) == ([3, 4], [2])
    await wait_for(lambda: first.closed_by_client == [True], timeout=5.0)


async def test_a_timed_out_export_does_not_leave_its_connection(
    proxy: Proxy, servers: list[asyncio.Server]
) -> None:
    collector = await start(servers, Collector(stall=True))
    target = ExportTarget(
        TARGET.service_name, "otel", grpc=False, path=TARGET.path, authority=b"c", timeout=0.3
    )
    exporter = SpanExporter(target, proxy.stats, interval=3600.0, batch_size=1)
    try:
        exporter.bind(cleartext(proxy, collector))
        await export(exporter, 1)
        assert proxy.stats.span_exports_failed == 1
        await export(exporter, 2)
    finally:
        await exporter.close()
    assert collector.spans == [2] and collector.answered == [0, 1]
    assert collector.closed_by_client[0]


async def test_an_error_status_fails_the_export_and_keeps_the_connection(
    proxy: Proxy, servers: list[asyncio.Server], exporter: SpanExporter
) -> None:
    collector = await start(servers, Collector(status=503))
    exporter.bind(cleartext(proxy, collector))
    await export(exporter, 1)
    await export(exporter, 2)
    assert proxy.stats.span_exports_failed == 2 and proxy.stats.spans_exported == 0
    assert collector.answered == [2]


async def test_exports_over_tls_share_one_connection(
    proxy: Proxy, servers: list[asyncio.Server], exporter: SpanExporter
) -> None:
    collector = Collector()
    context = server_context(SERVICE_CERT, server_names=collector.server_names)
    await start(servers, collector, context=context)
    config = compile_config(
        XdsResources(
            clusters={"otel": service_tls_cluster("otel")},
            load_assignments={"otel": r.load_assignment("otel", (COLLECTOR_HOST, collector.port))},
            secrets=secrets(),
        ),
        "1",
    )
    exporter.bind(balancers(proxy, config))
    for span_id in range(1, 4):
        await export(exporter, span_id)
    assert collector.spans == [1, 2, 3] and collector.answered == [3]
    assert collector.server_names == [SERVICE_NAME]
    assert proxy.stats.span_exports_failed == 0
