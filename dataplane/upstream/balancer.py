"""Weighted round robin over a cluster's endpoints, skipping ejected ones.

The schedule is computed once per config with the smooth weighted round-robin sequence (each
endpoint appears weight/gcd times, spread out), so picking is an index increment.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import reduce
from math import gcd

from dataplane.config.cluster import ClusterConfig
from dataplane.http2.pool import Http2Pool
from dataplane.upstream.pool import EndpointPool, UpstreamPools

# A longer schedule would cost memory for no better spread; weights are scaled down to fit.
MAX_SCHEDULE = 4096


def smooth_schedule(weights: list[int]) -> list[int]:
    """Indices in smooth weighted round-robin order over one full cycle."""
    if not weights:
        return []
    divisor = reduce(gcd, weights)
    reduced = [w // divisor for w in weights]
    total = sum(reduced)
    if total > MAX_SCHEDULE:
        scale = MAX_SCHEDULE / total
        reduced = [max(1, round(w * scale)) for w in reduced]
        total = sum(reduced)
    current = [0] * len(reduced)
    order: list[int] = []
    for _ in range(total):
        for index, weight in enumerate(reduced):
            current[index] += weight
        best = max(range(len(current)), key=current.__getitem__)
        current[best] -= total
        order.append(best)
    return order


class ClusterBalancer:
    __slots__ = ("budget", "config", "cursor", "http2", "pools", "schedule")

    def __init__(self, config: ClusterConfig, pools: UpstreamPools) -> None:
        self.config = config
        self.http2 = config.http2
        self.pools = [pools.pool(config, e.host, e.port) for e in config.endpoints]
        self.schedule = [
            self.pools[i] for i in smooth_schedule([e.weight for e in config.endpoints])
        ]
        self.cursor = -1
        self.budget = pools.retry_budget(config)

    def pick(self) -> EndpointPool | Http2Pool | None:
        """The next endpoint; None when the cluster has none. If every endpoint is ejected,
        all are used anyway (Envoy's panic mode)."""
        schedule = self.schedule
        size = len(schedule)
        if not size:
            return None
        cursor = self.cursor = (self.cursor + 1) % size
        pool = schedule[cursor]
        if not pool.ejected_until or not pool.is_ejected():
            return pool
        for step in range(1, size):
            candidate = schedule[(cursor + step) % size]
            if not candidate.is_ejected():
                self.cursor = (cursor + step) % size
                return candidate
        return pool


def pick_endpoint(
    clusters: Mapping[str, ClusterBalancer], name: str
) -> EndpointPool | Http2Pool | None:
    """The next endpoint of the cluster ``name``; None when there is no such cluster or it
    has no endpoint (for the services the proxy asks: authorization, rate limits, key sets,
    trace collectors)."""
    balancer = clusters.get(name)
    return balancer.pick() if balancer is not None else None
