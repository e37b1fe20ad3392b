"""Span export over TLS: the agw proxy reaches a trace collector whose cluster has an
UpstreamTlsContext (trust and the proxy's client certificate by SDS, SNI, a DNS subject alt
name, as the translator emits a backend's TLS) over OTLP/gRPC and OTLP/HTTP.

Covers, through the real proxy and real collectors on loopback (a grpc.aio TraceService with
TLS server credentials; an asyncio HTTPS collector): the span of a traced request arrives when
the collector's certificate is signed by the trusted CA and carries the expected name, also when
the collector requires the proxy's client certificate; the SNI the HTTP collector sees; and a
collector whose certificate comes from a CA the proxy does not trust, or lacks the expected
subject alt name, receives nothing while the exporter counts the failed export and every
request still answers 200. Leaves out plaintext export, batching and sampling
(test_tracing.py), the other per-request services' TLS (test_policy_service_tls.py) and Envoy
(e2e).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import grpc
import pytest
import trustme

from agwproto.agw.otlp.v1 import trace_pb2 as otlp
from dataplane.config import XdsResources, compile_config
from dataplane.proxy import Proxy
from tests.dataplane import resources as r
from tests.dataplane.backend import EchoBackend
from tests.dataplane.client import fetch, get
from tests.dataplane.conftest import PROXY_HOST, Backends
from tests.dataplane.service_tls import (
    ROGUE_CERT,
    SERVICE_CERT,
    SERVICE_NAME,
    TlsServers,
    grpc_credentials,
    secrets,
    server_context,
    tls_cluster,
)
from tests.dataplane.test_tracing import (
    Collected,
    names_span,
    sent_traceparent,
    trace_service,
    tracing,
)
from tests.envoy_harness import wait_for

COLLECTOR_HOST = "127.0.20.61"
# An OTLP/HTTP export is one small protobuf; a head this long is not one.
MAX_HEAD = 16384
TRANSPORTS = pytest.mark.parametrize("over_grpc", [True, False], ids=["grpc", "http"])


@dataclass
class TlsCollector:
    """A running collector: what it received, its port, and the SNI of every handshake its
    TLS context saw (the HTTP collector only; gRPC's credentials do not show it)."""

    collected: Collected
    port: int
    server_names: list[str | None] = field(default_factory=list)


class _OtlpHttpsHandler:
    """One connection to the HTTPS collector: each POST body is an export request."""

    def __init__(self, collected: Collected) -> None:
        self.collected = collected

    async def __call__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            if len(head) > MAX_HEAD:
                return
            method, headers = _parse_head(head)
            body = await reader.readexactly(int(headers.get(b"content-length", b"0")))
            self.collected.http_heads.append((method, headers))
            self.collected.record(otlp.ExportTraceServiceRequest.FromString(body))
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            # The proxy abandons a connection whose certificate it refuses.
            return
        finally:
            writer.close()


def _parse_head(head: bytes) -> tuple[bytes, dict[bytes, bytes]]:
    request_line, *lines = head.rstrip(b"\r\n").split(b"\r\n")
    headers: dict[bytes, bytes] = {}
    for line in lines:
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    return request_line.split(b" ", 1)[0], headers


StartCollector = Callable[..., Awaitable[TlsCollector]]


@pytest.fixture
async def collector() -> AsyncIterator[StartCollector]:
    """Start a TLS collector: ``start(over_grpc, cert, require_client_cert=False)``."""
    grpc_servers: list[Any] = []
    http_servers = TlsServers()

    async def start(
        over_grpc: bool, cert: trustme.LeafCert, *, require_client_cert: bool = False
    ) -> TlsCollector:
        collected = Collected()
        if over_grpc:
            server = grpc.aio.server()
            server.add_generic_rpc_handlers((trace_service(collected),))
            credentials = grpc_credentials(cert, require_client_cert=require_client_cert)
            port = server.add_secure_port(f"{COLLECTOR_HOST}:0", credentials)
            await server.start()
            grpc_servers.append(server)
            return TlsCollector(collected, port)
        result = TlsCollector(collected, 0)
        context = server_context(
            cert, require_client_cert=require_client_cert, server_names=result.server_names
        )
        result.port = await http_servers.start(
            _OtlpHttpsHandler(collected), COLLECTOR_HOST, context
        )
        return result

    yield start
    for server in grpc_servers:
        await server.stop(grace=None)
    await http_servers.close()


async def serve_traced(
    proxy: Proxy, backends: Backends, over_grpc: bool, collector_port: int, otel: Any
) -> tuple[str, int, EchoBackend]:
    """A listener tracing every request to cluster "otel" (``otel``, a TLS cluster), with
    its secrets, in front of backend "web"."""
    web = await backends("web")
    listener = r.listener("l", PROXY_HOST, 0, "rc", tracing=tracing(grpc_export=over_grpc))
    resources = XdsResources(
        listeners={"l": listener},
        route_configs={"rc": r.route_config("rc", r.vhost("v", ["*"], r.to_cluster("web")))},
        clusters={"web": r.cluster("web"), "otel": otel},
        load_assignments={
            "web": r.load_assignment("web", (web.host, web.port)),
            "otel": r.load_assignment("otel", (COLLECTOR_HOST, collector_port)),
        },
        secrets=secrets(),
    )
    await proxy.apply(compile_config(resources, "1"))
    address = proxy.address_of("l")
    assert address is not None
    return address[0], address[1], web


@TRANSPORTS
@pytest.mark.parametrize("mutual", [False, True], ids=["server-auth", "mutual"])
async def test_spans_reach_a_trusted_collector(
    proxy: Proxy, backends: Backends, collector: StartCollector, over_grpc: bool, mutual: bool
) -> None:
    service = await collector(over_grpc, SERVICE_CERT, require_client_cert=mutual)
    otel = tls_cluster("otel", http2=over_grpc, client_cert=mutual)
    host, port, web = await serve_traced(proxy, backends, over_grpc, service.port, otel)
    assert (await fetch(host, port, get("/"))).status == 200
    (span,) = await service.collected.wait_for_spans(1)
    assert names_span(sent_traceparent(web), span)
    await wait_for(lambda: proxy.stats.spans_exported == 1, timeout=5.0)
    assert proxy.stats.span_exports_failed == 0
    if not over_grpc:
        assert service.server_names == [SERVICE_NAME]
        ((method, headers),) = service.collected.http_heads
        assert method == b"POST" and headers[b"content-type"] == b"application/x-protobuf"


@TRANSPORTS
@pytest.mark.parametrize(
    ("cert", "san"),
    [(ROGUE_CERT, SERVICE_NAME), (SERVICE_CERT, "other.example.com")],
    ids=["untrusted", "wrong-name"],
)
async def test_an_unacceptable_collector_gets_nothing(
    proxy: Proxy,
    backends: Backends,
    collector: StartCollector,
    over_grpc: bool,
    cert: trustme.LeafCert,
    san: str,
) -> None:
    service = await collector(over_grpc, cert)
    otel = tls_cluster("otel", http2=over_grpc, san=san)
    host, port, web = await serve_traced(proxy, backends, over_grpc, service.port, otel)
    for _ in range(2):
        assert (await fetch(host, port, get("/"))).status == 200
    await wait_for(lambda: proxy.stats.span_exports_failed >= 1, timeout=5.0)
    assert (await fetch(host, port, get("/"))).status == 200
    assert service.collected.requests == [] and proxy.stats.spans_exported == 0
    assert len(web.received) == 3
    if not over_grpc:
        # The export failed at the TLS handshake (or the name check right after it), not
        # before reaching the collector.
        assert service.server_names and set(service.server_names) == {SERVICE_NAME}
