"""Worker counters as the parent adds them: snapshots of several workers sum by route,
cluster and code; a worker that exits keeps its counts in the totals (never backwards) but
not its open connections; an upstream latency histogram, where the request path records one,
sums per cluster and renders as a cumulative Prometheus histogram.

Leaves out the channel that carries snapshots (test_workers.py).
"""

from __future__ import annotations

from collections import defaultdict

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.registry import Collector

from dataplane.admin import latency_metrics
from dataplane.stats import ProxyStats
from dataplane.workers.counters import CounterTotals, Snapshot, take_snapshot


class LatencyStats(ProxyStats):
    """ProxyStats as it reads once the request path records upstream latency."""

    def __init__(self) -> None:
        super().__init__()
        self.upstream_latency: dict[str, list[int]] = {}
        self.upstream_latency_seconds: dict[str, float] = {}


def worker_stats(requests: int, active: int, latency: list[int] | None = None) -> Snapshot:
    stats = LatencyStats()
    stats.requests = defaultdict(int, {("r", "c", 200): requests})
    stats.downstream_connections_active = active
    stats.downstream_connections_total = requests
    if latency is not None:
        stats.upstream_latency = {"c": latency}
        stats.upstream_latency_seconds = {"c": 0.5}
    return take_snapshot(stats)


def test_workers_sum_and_a_retired_worker_keeps_its_counts_not_its_connections() -> None:
    totals = CounterTotals()
    first, second = worker_stats(3, 1), worker_stats(4, 2)
    total = totals.total([first, second])
    assert total["requests"] == [["r", "c", 200, 7]]
    assert total["downstream_connections_active"] == 3
    totals.retire(first)
    replacement = worker_stats(1, 0)
    total = totals.total([second, replacement])
    assert total["requests"] == [["r", "c", 200, 8]]
    assert total["downstream_connections_total"] == 8
    assert total["downstream_connections_active"] == 2


def test_latency_histograms_sum_per_cluster_and_render_cumulative() -> None:
    totals = CounterTotals()
    total = totals.total([worker_stats(1, 0, [1, 2, 0]), worker_stats(1, 0, [0, 1, 1])])
    assert total["latency"] == {"c": {"counts": [1, 3, 1], "sum": 1.0}}
    total["latency_bounds"] = [0.01, 0.1]

    class Latency(Collector):
        def collect(self):  # type: ignore[no-untyped-def]
            return latency_metrics(total)

    registry = CollectorRegistry(auto_describe=False)
    registry.register(Latency())
    text = generate_latest(registry).decode()
    assert 'agw_proxy_upstream_request_duration_seconds_bucket{cluster="c",le="0.01"} 1.0' in text
    assert 'agw_proxy_upstream_request_duration_seconds_bucket{cluster="c",le="0.1"} 4.0' in text
    assert 'agw_proxy_upstream_request_duration_seconds_bucket{cluster="c",le="+Inf"} 5.0' in text
    assert 'agw_proxy_upstream_request_duration_seconds_sum{cluster="c"} 1.0' in text


def test_no_histogram_without_recorded_latency() -> None:
    snapshot = take_snapshot(ProxyStats())
    assert "latency" not in snapshot
    assert list(latency_metrics(CounterTotals().total([snapshot]))) == []
