"""The proxy's admin HTTP server (``--admin-address``, localhost by default): a table of
endpoints in Envoy's formats, so the proxy is debugged like an Envoy.

- ``/config_dump``: ``envoy.admin.v3.ConfigDump`` JSON (``?include_eds`` adds endpoints),
  secrets redacted; diffs against the control plane's ``/debug/config_dump``.
- ``/ready``: 200 ``LIVE`` once CDS and LDS were accepted and every worker applied a complete
  config; 503 before.
- ``/stats``: counters as ``name: value`` lines; ``/metrics``: the same for Prometheus.

Counters are summed over workers (``Runtime.counters``). A deliberately small HTTP/1.1
server: GET and HEAD only, one request per connection, bounded request size.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

import structlog
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from dataplane.workers.counters import Snapshot
from dataplane.xdsclient.client import XdsClient
from dataplane.xdsclient.dump import config_dump
from dataplane.xdsclient.resource_types import SHORT_NAMES

log = structlog.get_logger("agw.proxy.admin")

MAX_REQUEST_BYTES = 16 * 1024
READ_TIMEOUT_SECONDS = 5.0
_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}
_REASONS[503] = "Service Unavailable"


class Runtime(Protocol):
    """What runs the config: the worker pool, or a proxy in this process."""

    @property
    def ready(self) -> bool: ...

    @property
    def restarts(self) -> int: ...

    def counters(self) -> Snapshot: ...

    def worker_counters(self) -> Mapping[int, Snapshot]: ...

    def running(self) -> int: ...


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes
    content_type: str = "text/plain; charset=utf-8"

    @classmethod
    def json(cls, data: Any, status: int = 200) -> Response:
        body = (json.dumps(data, indent=2, sort_keys=True) + "\n").encode()
        return cls(status, body, "application/json")


@dataclass(frozen=True, slots=True)
class Endpoint:
    path: str
    help: str
    handler: Callable[[Mapping[str, str]], Response]


class ProxyAdmin:
    def __init__(self, client: XdsClient, runtime: Runtime) -> None:
        self.client = client
        self.runtime = runtime
        self.endpoints = [
            Endpoint("/", "this index", self._index),
            Endpoint(
                "/config_dump",
                "the resources in effect as envoy.admin.v3.ConfigDump; ?include_eds",
                lambda query: Response.json(
                    config_dump(client, include_eds="include_eds" in query)
                ),
            ),
            Endpoint("/ready", "200 LIVE once a complete config runs in every worker", self._ready),
            Endpoint("/stats", "counters summed over workers, name: value", self._stats),
            Endpoint("/metrics", "Prometheus metrics", self._metrics),
        ]
        self._by_path = {endpoint.path: endpoint for endpoint in self.endpoints}
        self._server: asyncio.Server | None = None

    @property
    def is_ready(self) -> bool:
        return self.client.status.initialized and self.runtime.ready

    async def start(self, host: str, port: int) -> tuple[str, int]:
        self._server = await asyncio.start_server(self._serve, host, port, limit=MAX_REQUEST_BYTES)
        address = self._server.sockets[0].getsockname()
        return str(address[0]), int(address[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def handle(self, method: str, target: str) -> Response:
        url = urlsplit(target)
        endpoint = self._by_path.get(url.path.rstrip("/") or "/")
        if endpoint is None:
            return Response(404, f"no endpoint {url.path}; see /\n".encode())
        if method not in ("GET", "HEAD"):
            return Response(405, b"only GET is supported\n")
        query = {key: values[-1] for key, values in parse_qs(url.query, True).items()}
        try:
            return endpoint.handler(query)
        except Exception as error:  # an admin page must never take the proxy down
            log.exception("admin handler failed", path=url.path)
            return Response(503, f"{type(error).__name__}: {error}\n".encode())

    def _index(self, _: Mapping[str, str]) -> Response:
        rows = [{"path": e.path, "help": e.help} for e in self.endpoints]
        return Response.json({"endpoints": rows})

    def _ready(self, _: Mapping[str, str]) -> Response:
        if self.is_ready:
            return Response(200, b"LIVE\n")
        state = "INITIALIZING" if self.client.status.connected else "PRE_INITIALIZING"
        return Response(503, f"{state}\n".encode())

    def _stats(self, _: Mapping[str, str]) -> Response:
        lines = [f"{name}: {value}" for name, value in sorted(stat_lines(self))]
        return Response(200, ("\n".join(lines) + "\n").encode())

    def _metrics(self, _: Mapping[str, str]) -> Response:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(ProxyCollector(self))
        return Response(200, generate_latest(registry), "text/plain; version=0.0.4")

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_TIMEOUT_SECONDS)
            method, target = _request_line(head)
            response = self.handle(method, target) if method else Response(400, b"bad request\n")
            body = b"" if method == "HEAD" else response.body
            writer.write(
                f"HTTP/1.1 {response.status} {_REASONS.get(response.status, 'Error')}\r\n"
                f"Content-Type: {response.content_type}\r\n"
                f"Content-Length: {len(response.body)}\r\nConnection: close\r\n\r\n".encode()
                + body
            )
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        except ConnectionError:
            pass
        finally:
            writer.close()


# TCP and UDP proxy counters, shown under their own names in /stats.
STREAM_COUNTERS = (
    "tcp_connections_active",
    "tcp_connections_total",
    "tcp_bytes_received",
    "tcp_bytes_sent",
    "udp_sessions_active",
    "udp_sessions_total",
    "udp_datagrams_received",
    "udp_datagrams_dropped",
)
# Tracing counters, shown under their own names in /stats.
TRACING_COUNTERS = ("spans_exported", "spans_dropped", "span_exports_failed")


def stat_lines(admin: ProxyAdmin) -> Iterator[tuple[str, int | str]]:
    """Envoy-style stat names and values."""
    counters = admin.runtime.counters()
    yield "server.ready", int(admin.is_ready)
    yield "server.workers_running", admin.runtime.running()
    yield "server.worker_restarts", admin.runtime.restarts
    yield "downstream_cx_active", counters.get("downstream_connections_active", 0)
    yield "downstream_cx_total", counters.get("downstream_connections_total", 0)
    yield "upstream_cx_connect_fail", counters.get("upstream_connect_failures", 0)
    yield "upstream_rq_retry", counters.get("upstream_retries", 0)
    for name in STREAM_COUNTERS + TRACING_COUNTERS:
        yield name, counters.get(name, 0)
    for route, cluster, code, count in counters.get("requests", ()):
        yield f"route.{route or '(none)'}.cluster.{cluster or '(none)'}.rq_{code}", count
    for index, snapshot in admin.runtime.worker_counters().items():
        yield f"worker.{index}.rq_total", sum(row[3] for row in snapshot.get("requests", ()))
    status = admin.client.status
    yield "xds.connected", int(status.connected)
    yield "xds.streams_opened", status.streams_opened
    for type_url, entry in status.types.items():
        name = SHORT_NAMES.get(type_url, type_url)
        yield f"xds.{name}.update_success", entry.updates
        yield f"xds.{name}.update_rejected", entry.nacks
        yield f"xds.{name}.version_text", entry.accepted_version or "(none)"


class ProxyCollector(Collector):
    """Read at scrape time from the xDS client and the runtime, never kept twice."""

    def __init__(self, admin: ProxyAdmin) -> None:
        self._admin = admin

    def collect(self) -> Iterator[Metric]:
        admin = self._admin
        counters = admin.runtime.counters()
        requests = CounterMetricFamily(
            "agw_proxy_requests",
            "requests answered, by route, cluster and status code",
            labels=["route", "cluster", "code"],
        )
        for route, cluster, code, count in counters.get("requests", ()):
            requests.add_metric([route, cluster, str(code)], count)
        yield requests
        yield GaugeMetricFamily(
            "agw_proxy_downstream_connections_active",
            "open downstream connections",
            value=counters.get("downstream_connections_active", 0),
        )
        for name, key, text in (
            ("downstream_connections", "downstream_connections_total", "accepted connections"),
            ("upstream_connect_failures", "upstream_connect_failures", "failed connects"),
            ("upstream_retries", "upstream_retries", "upstream request retries"),
            ("tcp_connections", "tcp_connections_total", "proxied TCP connections"),
            ("tcp_bytes_received", "tcp_bytes_received", "bytes from TCP clients"),
            ("tcp_bytes_sent", "tcp_bytes_sent", "bytes to TCP clients"),
            ("udp_sessions", "udp_sessions_total", "UDP client sessions"),
            ("udp_datagrams_received", "udp_datagrams_received", "datagrams from clients"),
            ("udp_datagrams_dropped", "udp_datagrams_dropped", "datagrams dropped"),
            ("spans_exported", "spans_exported", "spans taken by trace collectors"),
            ("spans_dropped", "spans_dropped", "spans dropped on a full export queue"),
            ("span_exports_failed", "span_exports_failed", "span batches not exported"),
        ):
            yield CounterMetricFamily(f"agw_proxy_{name}", text, value=counters.get(key, 0))
        for name in ("tcp_connections_active", "udp_sessions_active"):
            yield GaugeMetricFamily(
                f"agw_proxy_{name}", name.replace("_", " "), value=counters.get(name, 0)
            )
        yield from latency_metrics(counters)
        yield labelled_requests_metric(counters)
        yield GaugeMetricFamily("agw_proxy_ready", "1 when /ready is 200", value=admin.is_ready)
        yield GaugeMetricFamily(
            "agw_proxy_workers_running", "live worker processes", value=admin.runtime.running()
        )
        yield CounterMetricFamily(
            "agw_proxy_worker_restarts", "workers restarted", value=admin.runtime.restarts
        )
        yield from _xds_metrics(admin.client)


def labelled_requests_metric(counters: Snapshot) -> Metric:
    """Requests by listener and the labels of AgentgatewayPolicy frontend.metrics. Each
    listener may label differently, so samples carry their own label names (the text format
    allows it; prometheus_client escapes the values)."""
    metric = Metric(
        "agw_requests_labelled", "requests by listener and frontend.metrics labels", "counter"
    )
    for listener, labels, count in counters.get("labelled", ()):
        values = {"listener": listener, **{name: value for name, value in labels}}
        metric.add_sample("agw_requests_labelled_total", values, count)
    return metric


def latency_metrics(counters: Snapshot) -> Iterator[Metric]:
    """Upstream latency per cluster, when the workers record it (see ``counters``)."""
    bounds = counters.get("latency_bounds", [])
    histograms = counters.get("latency", {})
    if not histograms:
        return
    family = HistogramMetricFamily(
        "agw_proxy_upstream_request_duration_seconds",
        "time from a forwarded request's head to the end of its response, per cluster",
        labels=["cluster"],
    )
    for cluster, histogram in sorted(histograms.items()):
        cumulative, buckets = 0, []
        for index, count in enumerate(histogram["counts"]):
            cumulative += count
            edge = str(bounds[index]) if index < len(bounds) else "+Inf"
            buckets.append((edge, cumulative))
        if not buckets or buckets[-1][0] != "+Inf":
            buckets.append(("+Inf", cumulative))
        family.add_metric([cluster], buckets, histogram["sum"])
    yield family


def _xds_metrics(client: XdsClient) -> Iterator[Metric]:
    status = client.status
    yield GaugeMetricFamily(
        "agw_proxy_xds_connected", "1 while the ADS stream is up", value=status.connected
    )
    yield CounterMetricFamily(
        "agw_proxy_xds_streams", "ADS streams opened", value=status.streams_opened
    )
    updates = CounterMetricFamily(
        "agw_proxy_xds_updates", "xDS responses accepted (ACKed)", labels=["type"]
    )
    nacks = CounterMetricFamily(
        "agw_proxy_xds_nacks", "xDS responses rejected (NACKed)", labels=["type"]
    )
    versions = GaugeMetricFamily(
        "agw_proxy_xds_acked_version",
        "the last version ACKed, per type (value is always 1)",
        labels=["type", "version"],
    )
    for type_url, entry in sorted(status.types.items()):
        name = SHORT_NAMES.get(type_url, type_url)
        updates.add_metric([name], entry.updates)
        nacks.add_metric([name], entry.nacks)
        if entry.accepted_version:
            versions.add_metric([name, entry.accepted_version], 1)
    yield updates
    yield nacks
    yield versions


def _request_line(head: bytes) -> tuple[str, str]:
    line = head.split(b"\r\n", 1)[0].decode("latin-1")
    parts = line.split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        return "", ""
    return parts[0], parts[1]
