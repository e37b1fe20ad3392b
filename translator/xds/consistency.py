"""Does a snapshot hold together? Every name one resource uses must exist among the others.

A data plane given a listener whose route configuration never comes, or a route to a cluster it
does not know, serves errors (or never finishes warming); the pipeline refuses to publish such
a snapshot and keeps the last good one.
"""

from __future__ import annotations

from collections.abc import Iterator

from envoy.config.cluster.v3 import cluster_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from envoy.extensions.filters.network.tcp_proxy.v3 import tcp_proxy_pb2
from envoy.extensions.filters.udp.udp_proxy.v3 import route_pb2 as udp_route_pb2
from envoy.extensions.filters.udp.udp_proxy.v3 import udp_proxy_pb2
from envoy.extensions.transport_sockets.tls.v3 import tls_pb2
from google.protobuf.message import Message

from translator.xds.resources import XdsResources
from translator.xds.route import cluster_references


def find_inconsistencies(resources: XdsResources) -> list[str]:
    """Readable messages, one per dangling reference; empty when the snapshot is whole."""
    problems: list[str] = []
    for name, listener in resources.listeners.items():
        problems.extend(_listener_problems(name, listener, resources))
    for name in resources.route_configs:
        known = resources.route_references.get(name)
        if known is not None and known.clusters <= resources.clusters.keys():
            continue  # the common case, checked without a loop per route
        pairs = (
            known.pairs() if known is not None else _route_clusters(resources.route_configs[name])
        )
        for route_name, cluster in pairs:
            if cluster not in resources.clusters:
                problems.append(
                    f"route configuration {name!r} route {route_name!r} uses cluster "
                    f"{cluster!r}, which does not exist"
                )
    for name, cluster in resources.clusters.items():
        for secret in _secret_names(cluster, tls_pb2.UpstreamTlsContext()):
            if secret not in resources.secrets:
                problems.append(f"cluster {name!r} uses secret {secret!r}, which does not exist")
        if cluster.type == cluster_pb2.Cluster.EDS:
            assignment = cluster.eds_cluster_config.service_name or name
            if assignment not in resources.endpoints:
                problems.append(
                    f"cluster {name!r} takes endpoints from load assignment {assignment!r}, "
                    "which does not exist"
                )
    return problems


def _listener_problems(name: str, listener: Message, resources: XdsResources) -> Iterator[str]:
    for chain in listener.filter_chains:
        where = f"listener {name!r} filter chain {chain.name!r}"
        for filter_ in chain.filters:
            for cluster in _stream_clusters(filter_):
                if cluster not in resources.clusters:
                    yield f"{where} proxies to cluster {cluster!r}, which does not exist"
            manager = hcm_pb2.HttpConnectionManager()
            if not filter_.typed_config.Unpack(manager) or not manager.HasField("rds"):
                continue
            route_config = manager.rds.route_config_name
            if route_config not in resources.route_configs:
                yield (f"{where} uses route configuration {route_config!r}, which does not exist")
        for secret in _secret_names(chain, tls_pb2.DownstreamTlsContext()):
            if secret not in resources.secrets:
                yield f"{where} uses secret {secret!r}, which does not exist"
    for listener_filter in listener.listener_filters:
        cluster = _datagram_cluster(listener_filter)
        if cluster and cluster not in resources.clusters:
            yield f"listener {name!r} sends datagrams to cluster {cluster!r}, which does not exist"


def _datagram_cluster(listener_filter: Message) -> str:
    config = udp_proxy_pb2.UdpProxyConfig()
    route = udp_route_pb2.Route()
    if not listener_filter.typed_config.Unpack(config):
        return ""
    if not config.matcher.on_no_match.action.typed_config.Unpack(route):
        return ""
    return str(route.cluster)


def _stream_clusters(filter_: Message) -> Iterator[str]:
    proxy = tcp_proxy_pb2.TcpProxy()
    if not filter_.typed_config.Unpack(proxy):
        return
    if proxy.cluster:
        yield proxy.cluster
    for weighted in proxy.weighted_clusters.clusters:
        yield weighted.name


def _secret_names(holder: Message, context: Message) -> Iterator[str]:
    """SDS names a TLS transport socket (of a filter chain or a cluster) refers to."""
    if not holder.HasField("transport_socket") or not holder.transport_socket.typed_config.Unpack(
        context
    ):
        return
    common = context.common_tls_context
    for config in common.tls_certificate_sds_secret_configs:
        yield config.name
    if common.HasField("validation_context_sds_secret_config"):
        yield common.validation_context_sds_secret_config.name
    if common.HasField("combined_validation_context"):
        yield common.combined_validation_context.validation_context_sds_secret_config.name


def _route_clusters(config: Message) -> Iterator[tuple[str, str]]:
    """(route name, cluster name) for every cluster a route forwards or mirrors to."""
    for host in config.virtual_hosts:
        yield from cluster_references(host)
