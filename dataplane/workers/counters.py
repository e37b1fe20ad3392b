"""Worker counters as plain data: a worker sends a snapshot of its ``ProxyStats`` now and
then; the parent adds the snapshots of every worker, and keeps what workers that exited had
counted so that totals never go backwards when a worker is replaced.

A snapshot is JSON: ``requests`` is a list of ``[route, cluster, code, count]``;
``labelled`` is a list of ``[listener, [[name, value], ...], count]`` (AgentgatewayPolicy
frontend.metrics); the other counters are integers; gauges (``GAUGES``) count only for live
workers. ``latency`` maps a cluster to ``{"counts": [...], "sum": seconds}``, the counts per
bucket of ``latency_bounds`` (the last bucket is above every bound, counts are not cumulative).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import dataplane.stats
from dataplane.stats import ProxyStats

COUNTERS = (
    "downstream_connections_total",
    "upstream_connect_failures",
    "upstream_retries",
    "tcp_connections_total",
    "tcp_bytes_received",
    "tcp_bytes_sent",
    "udp_sessions_total",
    "udp_datagrams_received",
    "udp_datagrams_dropped",
    "spans_exported",
    "spans_dropped",
    "span_exports_failed",
)
GAUGES = ("downstream_connections_active", "tcp_connections_active", "udp_sessions_active")
Snapshot = dict[str, Any]


def take_snapshot(stats: ProxyStats) -> Snapshot:
    requests = [[route, cluster, code, n] for (route, cluster, code), n in stats.requests.items()]
    snapshot: Snapshot = {"requests": requests}
    if stats.labelled_requests:
        snapshot["labelled"] = [
            [listener, [list(pair) for pair in labels], n]
            for (listener, labels), n in stats.labelled_requests.items()
        ]
    for name in COUNTERS + GAUGES:
        snapshot[name] = int(getattr(stats, name))
    # The upstream latency histogram is read only where the request path records one:
    # ``ProxyStats.upstream_latency`` (cluster to bucket counts over the module's
    # ``LATENCY_BOUNDS``) and ``upstream_latency_seconds`` (cluster to summed seconds).
    latency = getattr(stats, "upstream_latency", None)
    if latency:
        seconds = getattr(stats, "upstream_latency_seconds", {})
        snapshot["latency_bounds"] = list(getattr(dataplane.stats, "LATENCY_BOUNDS", ()))
        snapshot["latency"] = {
            cluster: {"counts": list(counts), "sum": float(seconds.get(cluster, 0.0))}
            for cluster, counts in latency.items()
        }
    return snapshot


class CounterTotals:
    """The sum over workers; ``retire`` folds in the last snapshot of a worker that exited."""

    def __init__(self) -> None:
        self._retired: Snapshot = _empty()

    def retire(self, snapshot: Snapshot) -> None:
        without_gauges = {k: v for k, v in snapshot.items() if k not in GAUGES}
        self._retired = _sum([self._retired, without_gauges])

    def total(self, live: Iterable[Snapshot]) -> Snapshot:
        return _sum([self._retired, *live])


def _empty() -> Snapshot:
    return {"requests": [], **{name: 0 for name in COUNTERS + GAUGES}}


def _sum(snapshots: Iterable[Snapshot]) -> Snapshot:
    result = _empty()
    requests: dict[tuple[str, str, int], int] = {}
    latency: dict[str, dict[str, Any]] = {}
    labelled: dict[tuple[str, tuple[tuple[str, str], ...]], int] = {}
    for snapshot in snapshots:
        for listener, labels, count in snapshot.get("labelled", ()):
            label_key = (str(listener), tuple((str(k), str(v)) for k, v in labels))
            labelled[label_key] = labelled.get(label_key, 0) + int(count)
        for route, cluster, code, count in snapshot.get("requests", ()):
            key = (str(route), str(cluster), int(code))
            requests[key] = requests.get(key, 0) + int(count)
        for name in COUNTERS + GAUGES:
            result[name] += int(snapshot.get(name, 0))
        if "latency_bounds" in snapshot:
            result["latency_bounds"] = snapshot["latency_bounds"]
        for cluster, histogram in snapshot.get("latency", {}).items():
            total = latency.setdefault(cluster, {"counts": [], "sum": 0.0})
            total["counts"] = _add(total["counts"], histogram["counts"])
            total["sum"] += float(histogram["sum"])
    result["requests"] = [[*key, count] for key, count in sorted(requests.items())]
    if latency:
        result["latency"] = latency
    if labelled:
        result["labelled"] = [
            [listener, [list(pair) for pair in labels], count]
            for (listener, labels), count in sorted(labelled.items())
        ]
    return result


def _add(left: Sequence[int], right: Sequence[int]) -> list[int]:
    width = max(len(left), len(right))
    return [
        (left[i] if i < len(left) else 0) + (right[i] if i < len(right) else 0)
        for i in range(width)
    ]
