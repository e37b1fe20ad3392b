"""Compile the stream and datagram proxies: ``envoy.filters.network.tcp_proxy`` (a filter chain's
only network filter) and ``envoy.filters.udp_listener.udp_proxy`` (a UDP listener's filter)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from envoy.extensions.filters.network.tcp_proxy.v3 import tcp_proxy_pb2
from envoy.extensions.filters.udp.udp_proxy.v3 import route_pb2 as udp_route_pb2
from envoy.extensions.filters.udp.udp_proxy.v3 import udp_proxy_pb2

from dataplane.config.support import check_fields
from dataplane.config.values import seconds
from dataplane.errors import InvalidConfig, UnsupportedField, UnsupportedValue

TCP_PROXY_FILTER = "envoy.filters.network.tcp_proxy"
UDP_PROXY_FILTER = "envoy.filters.udp_listener.udp_proxy"
# Envoy's defaults: a stream idle for an hour is closed; a UDP session idle for a minute ends.
DEFAULT_TCP_IDLE_TIMEOUT = 3600.0
DEFAULT_UDP_IDLE_TIMEOUT = 60.0


@dataclass(frozen=True, slots=True)
class TcpProxySettings:
    stat_prefix: str
    # (cluster, weight): one entry with weight 1 for ``cluster``, else ``weighted_clusters``.
    clusters: tuple[tuple[str, int], ...]
    # 0 disables the idle timeout, as in Envoy.
    idle_timeout: float = DEFAULT_TCP_IDLE_TIMEOUT
    # Endpoints tried (each picked afresh by the balancer) before the connection is closed.
    max_connect_attempts: int = 1


@dataclass(frozen=True, slots=True)
class UdpProxySettings:
    stat_prefix: str
    cluster: str
    idle_timeout: float = DEFAULT_UDP_IDLE_TIMEOUT


def compile_tcp_proxy(packed: Any) -> TcpProxySettings:
    proxy = tcp_proxy_pb2.TcpProxy()
    if not packed.Unpack(proxy):
        raise UnsupportedValue("Filter.typed_config", packed.type_url)
    check_fields(proxy)
    if proxy.HasField("weighted_clusters"):
        clusters = tuple((c.name, c.weight) for c in proxy.weighted_clusters.clusters)
        if not clusters or not sum(weight for _, weight in clusters):
            raise InvalidConfig("TcpProxy.weighted_clusters: the total weight must be above 0")
    elif proxy.cluster:
        clusters = ((proxy.cluster, 1),)
    else:
        raise InvalidConfig("TcpProxy: cluster or weighted_clusters is required")
    attempts = proxy.max_connect_attempts.value if proxy.HasField("max_connect_attempts") else 1
    if attempts < 1:
        raise InvalidConfig("TcpProxy.max_connect_attempts must be at least 1")
    return TcpProxySettings(
        stat_prefix=proxy.stat_prefix,
        clusters=clusters,
        idle_timeout=(
            seconds(proxy.idle_timeout)
            if proxy.HasField("idle_timeout")
            else DEFAULT_TCP_IDLE_TIMEOUT
        ),
        max_connect_attempts=attempts,
    )


def compile_udp_proxy(packed: Any) -> UdpProxySettings:
    config = udp_proxy_pb2.UdpProxyConfig()
    if not packed.Unpack(config):
        raise UnsupportedValue("ListenerFilter.typed_config", packed.type_url)
    check_fields(config)
    if config.HasField("matcher"):
        matcher = config.matcher
        if matcher.HasField("matcher_list") or matcher.HasField("matcher_tree"):
            raise UnsupportedField("UdpProxyConfig.matcher (only on_no_match)")
        on_no_match = matcher.on_no_match
        if on_no_match.HasField("matcher") or not on_no_match.HasField("action"):
            raise UnsupportedField("UdpProxyConfig.matcher.on_no_match (only a Route action)")
        route = udp_route_pb2.Route()
        if not on_no_match.action.typed_config.Unpack(route):
            raise UnsupportedValue(
                "UdpProxyConfig.matcher.on_no_match.action.typed_config",
                on_no_match.action.typed_config.type_url,
            )
        check_fields(route)
        cluster = route.cluster
    else:
        cluster = config.cluster
    if not cluster:
        raise InvalidConfig("UdpProxyConfig: a cluster is required (matcher Route or cluster)")
    return UdpProxySettings(
        stat_prefix=config.stat_prefix,
        cluster=cluster,
        idle_timeout=(
            seconds(config.idle_timeout)
            if config.HasField("idle_timeout")
            else DEFAULT_UDP_IDLE_TIMEOUT
        ),
    )
