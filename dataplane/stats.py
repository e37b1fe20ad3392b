"""Counters the request path bumps; the admin endpoints render them."""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict

# Upper bounds (seconds) of the request latency histogram buckets; one more bucket holds the
# rest. Prometheus' default buckets, extended down to a millisecond.
LATENCY_BOUNDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class ProxyStats:
    __slots__ = (
        "downstream_connections_active",
        "downstream_connections_total",
        "labelled_requests",
        "requests",
        "span_exports_failed",
        "spans_dropped",
        "spans_exported",
        "tcp_bytes_received",
        "tcp_bytes_sent",
        "tcp_connections_active",
        "tcp_connections_total",
        "udp_datagrams_dropped",
        "udp_datagrams_received",
        "udp_sessions_active",
        "udp_sessions_total",
        "upstream_connect_failures",
        "upstream_latency",
        "upstream_latency_seconds",
        "upstream_retries",
    )

    def __init__(self) -> None:
        # (route name, cluster name or "", status) -> count
        self.requests: defaultdict[tuple[str, str, int], int] = defaultdict(int)
        # (listener, ((label name, value), ...)) -> count, for AgentgatewayPolicy
        # frontend.metrics; dataplane.request_metrics bounds how many keys there are.
        self.labelled_requests: dict[tuple[str, tuple[tuple[str, str], ...]], int] = {}
        self.downstream_connections_active = 0
        self.downstream_connections_total = 0
        self.upstream_connect_failures = 0
        self.upstream_retries = 0
        # cluster -> bucket counts over LATENCY_BOUNDS (the last is everything above), and the
        # summed seconds: time from the request head to the end of a forwarded request.
        self.upstream_latency: dict[str, list[int]] = {}
        self.upstream_latency_seconds: defaultdict[str, float] = defaultdict(float)
        # tcp_proxy streams; bytes are counted as received from and sent to the downstream.
        self.tcp_connections_active = 0
        self.tcp_connections_total = 0
        self.tcp_bytes_received = 0
        self.tcp_bytes_sent = 0
        # udp_proxy sessions and datagrams (from clients; dropped either way).
        self.udp_sessions_active = 0
        self.udp_sessions_total = 0
        self.udp_datagrams_received = 0
        self.udp_datagrams_dropped = 0
        # Tracing: spans sent to collectors, dropped on a full queue, failed export batches.
        self.spans_exported = 0
        self.spans_dropped = 0
        self.span_exports_failed = 0

    def observe_latency(self, cluster: str, seconds: float) -> None:
        counts = self.upstream_latency.get(cluster)
        if counts is None:
            counts = self.upstream_latency[cluster] = [0] * (len(LATENCY_BOUNDS) + 1)
        counts[bisect_left(LATENCY_BOUNDS, seconds)] += 1
        self.upstream_latency_seconds[cluster] += seconds

    def total_requests(self) -> int:
        return sum(self.requests.values())
