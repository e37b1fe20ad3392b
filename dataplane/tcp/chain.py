"""What a connection on one tcp_proxy filter chain needs, resolved once per config apply."""

from __future__ import annotations

import ssl
from collections.abc import Mapping

from dataplane.config.listener import TcpChainConfig
from dataplane.upstream.balancer import ClusterBalancer, smooth_schedule


class TcpChain:
    """The chain's clusters in weighted round-robin order; a cluster the config does not know
    is kept as None in the schedule, so its share of connections is closed (as Envoy does)."""

    __slots__ = ("config", "context", "cursor", "schedule")

    def __init__(
        self,
        config: TcpChainConfig,
        balancers: Mapping[str, ClusterBalancer],
        context: ssl.SSLContext | None,
    ) -> None:
        self.config = config
        self.context = context
        receiving = [(name, weight) for name, weight in config.proxy.clusters if weight > 0]
        order = smooth_schedule([weight for _, weight in receiving])
        self.schedule = [balancers.get(receiving[index][0]) for index in order]
        self.cursor = -1

    def pick_cluster(self) -> ClusterBalancer | None:
        if not self.schedule:
            return None
        self.cursor = (self.cursor + 1) % len(self.schedule)
        return self.schedule[self.cursor]
