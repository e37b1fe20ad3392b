"""Span attributes valued by command operators agree with the access log: each tag reads its one
value straight from the exchange (``dataplane.config.tracing.EXCHANGE_READERS``) instead of
building the access log's default line, and must give what that line gives.

Covers, through the real proxy, a real OTLP/gRPC collector and a file access log of the default
line, with a span tag for each of its twelve attributes: a routed HTTP/1.1 request with a user
agent and a query, a request no route matches (empty route and cluster), and an HTTP/2
request; every attribute but the duration equal to the logged field, of the same type, and the
duration no later than the log's. Also that every command operator has its reader. Leaves out
CEL tags, literals and header tags (test_tracing.py) and the encoding (test_otlp_encoding.py).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from envoy.config.accesslog.v3 import accesslog_pb2
from envoy.extensions.access_loggers.file.v3 import file_pb2

from dataplane.config.access_log import COMMANDS
from dataplane.config.tracing import EXCHANGE_READERS
from dataplane.proxy import Proxy
from tests.dataplane import resources as r
from tests.dataplane.client import fetch, get
from tests.dataplane.conftest import PROXY_HOST, Backends
from tests.dataplane.test_tracing import Collected, attributes, trace_service, tracing
from tests.envoy_harness import wait_for

COLLECTOR_HOST = "127.0.20.64"
STATUS_CODE = "http.response.status_code"


def test_every_command_operator_has_its_reader() -> None:
    assert set(EXCHANGE_READERS) == set(COMMANDS.values())


@pytest.fixture
async def collector() -> AsyncIterator[tuple[Collected, int]]:
    collected = Collected()
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((trace_service(collected),))
    port = server.add_insecure_port(f"{COLLECTOR_HOST}:0")
    await server.start()
    yield collected, port
    await server.stop(grace=None)


def every_command_traced(path: Path) -> dict[str, Any]:
    """Connection manager fields: one span tag per command operator, named by the default
    attribute it gives, and a file access log of the default line (those attributes)."""
    manager_tracing = tracing()
    del manager_tracing.custom_tags[:]
    for command, name in COMMANDS.items():
        manager_tracing.custom_tags.add(tag=name, value=command)
    entry = accesslog_pb2.AccessLog(name="envoy.access_loggers.file")
    entry.typed_config.Pack(file_pb2.FileAccessLog(path=str(path)))
    return {"tracing": manager_tracing, "access_log": [entry]}


async def test_tags_equal_the_access_log_fields(
    proxy: Proxy, backends: Backends, collector: tuple[Collected, int], tmp_path: Path
) -> None:
    collected, collector_port = collector
    web = await backends("web")
    log_path = tmp_path / "access.log"
    config = r.compiled(
        [r.listener("l", PROXY_HOST, 0, "rc", **every_command_traced(log_path))],
        [r.route_config("rc", r.vhost("v", ["example.com"], r.to_cluster("web")))],
        {"web": [(web.host, web.port)], "otel": [(COLLECTOR_HOST, collector_port)]},
    )
    await proxy.apply(config)
    address = proxy.address_of("l")
    assert address is not None
    host, port = address
    routed = get("/items?q=1", headers={"user-agent": "probe/2", "x-request-id": "req-1"})
    assert (await fetch(host, port, routed)).status == 200
    assert (await fetch(host, port, get("/", host="nowhere.example"))).status == 404
    async with httpx.AsyncClient(http1=False, http2=True) as client:
        response = await client.get(f"http://{host}:{port}/h2", headers={"host": "example.com"})
    assert response.http_version == "HTTP/2" and response.status_code == 200
    spans = await collected.wait_for_spans(3)
    await wait_for(lambda: len(log_path.read_text().splitlines()) == 3, timeout=5.0)
    logged = [json.loads(line) for line in log_path.read_text().splitlines()]
    for line in logged:
        assert line.pop("event") == "access"
    for span, line in zip(spans, logged, strict=True):
        found = attributes(span)
        assert found.pop(STATUS_CODE) == line["response_code"]
        span_duration, log_duration = found.pop("duration_ms"), line.pop("duration_ms")
        assert 0 <= span_duration <= log_duration
        assert found == line
        assert {key: type(value) for key, value in found.items()} == {
            key: type(value) for key, value in line.items()
        }
    first, unrouted, http2 = logged
    assert (first["route_name"], first["upstream_cluster"]) == ("web/", "web")
    assert (first["path"], first["user_agent"], first["request_id"]) == (
        "/items?q=1",
        "probe/2",
        "req-1",
    )
    assert (unrouted["route_name"], unrouted["upstream_cluster"]) == ("", "")
    assert (unrouted["response_code"], http2["protocol"]) == (404, "HTTP/2")
