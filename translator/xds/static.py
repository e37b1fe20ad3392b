"""ADS-shaped resources as a self-contained Envoy bootstrap, for offline validation and tests.

Route configurations are inlined into their connection managers, EDS clusters become STATIC
clusters carrying their load assignment, and SDS references point at static secrets. Envoy then
also checks what ADS never would at load time: a static route configuration naming an unknown
cluster is rejected (``validate_clusters`` defaults to true for inline routes).
"""

from __future__ import annotations

from typing import Any

from envoy.config.bootstrap.v3 import bootstrap_pb2
from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.core.v3 import address_pb2
from envoy.config.endpoint.v3 import endpoint_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from envoy.extensions.transport_sockets.tls.v3 import tls_pb2
from google.protobuf import json_format
from google.protobuf.message import Message

from translator.xds.extensions import pack
from translator.xds.resources import XdsResources


def static_bootstrap(
    resources: XdsResources, admin_port: int, *, admin_address: str = "127.0.0.1"
) -> dict[str, Any]:
    """The bootstrap as JSON-ready data (proto field names), for ``envoy -c FILE``."""
    bootstrap = bootstrap_pb2.Bootstrap(
        admin=bootstrap_pb2.Admin(
            address=address_pb2.Address(
                socket_address=address_pb2.SocketAddress(
                    address=admin_address, port_value=admin_port
                )
            )
        ),
        static_resources=bootstrap_pb2.Bootstrap.StaticResources(
            listeners=[
                _static_listener(listener, resources) for listener in resources.listeners.values()
            ],
            clusters=[
                _static_cluster(name, cluster, resources)
                for name, cluster in resources.clusters.items()
            ],
            secrets=list(resources.secrets.values()),
        ),
    )
    data: dict[str, Any] = json_format.MessageToDict(bootstrap, preserving_proto_field_name=True)
    return data


def _static_listener(listener: Message, resources: XdsResources) -> Message:
    static = listener_pb2.Listener()
    static.CopyFrom(listener)
    for chain in static.filter_chains:
        for filter_ in chain.filters:
            manager = hcm_pb2.HttpConnectionManager()
            if filter_.typed_config.Unpack(manager) and manager.HasField("rds"):
                route_config = resources.route_configs.get(manager.rds.route_config_name)
                manager.ClearField("rds")
                if route_config is not None:
                    manager.route_config.CopyFrom(route_config)
                filter_.typed_config.CopyFrom(pack(manager))
        if chain.HasField("transport_socket"):
            _static_secrets(chain.transport_socket, tls_pb2.DownstreamTlsContext())
    return static


def _static_secrets(socket: Message, context: Message) -> None:
    """Point every SDS reference of a TLS transport socket at a static secret (a name without
    a config source refers to one)."""
    if not socket.typed_config.Unpack(context):
        return
    common = context.common_tls_context
    for secret_config in common.tls_certificate_sds_secret_configs:
        secret_config.ClearField("sds_config")
    if common.HasField("validation_context_sds_secret_config"):
        common.validation_context_sds_secret_config.ClearField("sds_config")
    if common.HasField("combined_validation_context"):
        combined = common.combined_validation_context
        combined.validation_context_sds_secret_config.ClearField("sds_config")
    socket.typed_config.CopyFrom(pack(context))


def _static_cluster(name: str, cluster: Message, resources: XdsResources) -> Message:
    static = cluster_pb2.Cluster()
    static.CopyFrom(cluster)
    if static.type == cluster_pb2.Cluster.EDS:
        assignment = resources.endpoints.get(static.eds_cluster_config.service_name or name)
        static.type = cluster_pb2.Cluster.STATIC
        static.ClearField("eds_cluster_config")
        static.load_assignment.CopyFrom(
            assignment
            if assignment is not None
            else endpoint_pb2.ClusterLoadAssignment(cluster_name=name)
        )
    if static.HasField("transport_socket"):
        _static_secrets(static.transport_socket, tls_pb2.UpstreamTlsContext())
    return static
