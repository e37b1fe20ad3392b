"""What a listener or a cluster refers to by name, read straight from its proto.

These names drive the explicit subscriptions (RDS, EDS, SDS) and Envoy's warming rule: a
listener or cluster is usable once everything it refers to has arrived. The reading is
tolerant on purpose: a malformed resource refers to nothing here and is rejected by the
compiler, which owns validation.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from envoy.config.cluster.v3.cluster_pb2 import Cluster
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from envoy.extensions.transport_sockets.tls.v3.tls_pb2 import (
    DownstreamTlsContext,
    UpstreamTlsContext,
)

from dataplane.xdsclient.resource_types import (
    CLUSTER,
    CLUSTER_LOAD_ASSIGNMENT,
    LISTENER,
    ROUTE_CONFIGURATION,
    SECRET,
)

References = dict[str, frozenset[str]]
NO_REFERENCES: Mapping[str, frozenset[str]] = {}


def references(type_url: str, message: Any) -> Mapping[str, frozenset[str]]:
    """Type URL to the names of that type ``message`` needs before it can serve."""
    if type_url == LISTENER:
        return _listener_references(message)
    if type_url == CLUSTER:
        return _cluster_references(message)
    return NO_REFERENCES


def eds_name(cluster: Any) -> str:
    """EDS resources are named by ``service_name`` when set, else by the cluster's name."""
    return str(cluster.eds_cluster_config.service_name or cluster.name)


def _listener_references(listener: Any) -> References:
    routes: set[str] = set()
    secrets: set[str] = set()
    for chain in _filter_chains(listener):
        for network_filter in chain.filters:
            manager = hcm_pb2.HttpConnectionManager()
            if network_filter.typed_config.Unpack(manager) and manager.HasField("rds"):
                routes.add(manager.rds.route_config_name)
        if chain.HasField("transport_socket"):
            context = DownstreamTlsContext()
            if chain.transport_socket.typed_config.Unpack(context):
                secrets.update(_secret_names(context.common_tls_context))
    return _without_empty({ROUTE_CONFIGURATION: routes, SECRET: secrets})


def _cluster_references(cluster: Any) -> References:
    found: dict[str, set[str]] = {}
    if cluster.WhichOneof("cluster_discovery_type") == "type" and cluster.type == Cluster.EDS:
        found[CLUSTER_LOAD_ASSIGNMENT] = {eds_name(cluster)}
    if cluster.HasField("transport_socket"):
        context = UpstreamTlsContext()
        if cluster.transport_socket.typed_config.Unpack(context):
            found[SECRET] = set(_secret_names(context.common_tls_context))
    return _without_empty(found)


def _filter_chains(listener: Any) -> Iterator[Any]:
    yield from listener.filter_chains
    if listener.HasField("default_filter_chain"):
        yield listener.default_filter_chain


def _secret_names(common: Any) -> Iterator[str]:
    for config in common.tls_certificate_sds_secret_configs:
        yield config.name
    if common.HasField("validation_context_sds_secret_config"):
        yield common.validation_context_sds_secret_config.name
    if common.HasField("combined_validation_context"):
        combined = common.combined_validation_context
        if combined.HasField("validation_context_sds_secret_config"):
            yield combined.validation_context_sds_secret_config.name


def _without_empty(found: Mapping[str, set[str]]) -> References:
    return {type_url: frozenset(names) for type_url, names in found.items() if names}
