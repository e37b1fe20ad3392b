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
from envoy.extensions.transport_sockets.tls.v3 import tls_pb2
from google.protobuf.message import Message

from translator.xds.resources import XdsResources


def find_inconsistencies(resources: XdsResources) -> list[str]:
    """Readable messages, one per dangling reference; empty when the snapshot is whole."""
    problems: list[str] = []
    for name, listener in resources.listeners.items():
        problems.extend(_listener_problems(name, listener, resources))
    for name, config in resources.route_configs.items():
        for route_name, cluster in _route_clusters(config):
            if cluster not in resources.clusters:
                problems.append(
                    f"route configuration {name!r} route {route_name!r} uses cluster "
                    f"{cluster!r}, which does not exist"
                )
    for name, cluster in resources.clusters.items():
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
            manager = hcm_pb2.HttpConnectionManager()
            if not filter_.typed_config.Unpack(manager) or not manager.HasField("rds"):
                continue
            route_config = manager.rds.route_config_name
            if route_config not in resources.route_configs:
                yield (f"{where} uses route configuration {route_config!r}, which does not exist")
        for secret in _secret_names(chain):
            if secret not in resources.secrets:
                yield f"{where} uses secret {secret!r}, which does not exist"


def _secret_names(chain: Message) -> Iterator[str]:
    context = tls_pb2.DownstreamTlsContext()
    if not chain.HasField("transport_socket") or not chain.transport_socket.typed_config.Unpack(
        context
    ):
        return
    common = context.common_tls_context
    for config in common.tls_certificate_sds_secret_configs:
        yield config.name
    if common.HasField("validation_context_sds_secret_config"):
        yield common.validation_context_sds_secret_config.name


def _route_clusters(config: Message) -> Iterator[tuple[str, str]]:
    """(route name, cluster name) for every cluster a route forwards or mirrors to."""
    for host in config.virtual_hosts:
        for route in host.routes:
            if not route.HasField("route"):
                continue
            action = route.route
            if action.cluster:
                yield route.name, action.cluster
            for weighted in action.weighted_clusters.clusters:
                yield route.name, weighted.name
            for mirror in action.request_mirror_policies:
                yield route.name, mirror.cluster
