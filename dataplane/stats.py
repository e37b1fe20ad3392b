"""Counters the request path bumps; the admin endpoints render them."""

from __future__ import annotations

from collections import defaultdict


class ProxyStats:
    __slots__ = (
        "downstream_connections_active",
        "downstream_connections_total",
        "requests",
        "upstream_connect_failures",
        "upstream_retries",
    )

    def __init__(self) -> None:
        # (route name, cluster name or "", status) -> count
        self.requests: defaultdict[tuple[str, str, int], int] = defaultdict(int)
        self.downstream_connections_active = 0
        self.downstream_connections_total = 0
        self.upstream_connect_failures = 0
        self.upstream_retries = 0

    def total_requests(self) -> int:
        return sum(self.requests.values())
