"""CDS and EDS: one EDS cluster per IR cluster, its endpoints in a ClusterLoadAssignment."""

from __future__ import annotations

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.core.v3 import address_pb2, protocol_pb2
from envoy.config.endpoint.v3 import endpoint_components_pb2, endpoint_pb2
from envoy.extensions.upstreams.http.v3 import http_protocol_options_pb2
from google.protobuf import duration_pb2
from google.protobuf.message import Message

from translator import naming
from translator.ir import Cluster, Endpoint, UpstreamProtocol
from translator.xds.extensions import HTTP_PROTOCOL_OPTIONS, ads_config_source, pack
from translator.xds.metadata import origin_metadata
from translator.xds.policy_backend import apply_backend_connection
from translator.xds.retry_budget import apply_retry_budget
from translator.xds.upstream_tls import build_upstream_tls

# An HTTP route's entry for it carries a fault abort, so nothing is ever forwarded there; the
# cluster exists so that every cluster a route names resolves (the snapshot consistency check,
# and Envoy's validate_clusters on static route configurations).
INVALID_BACKEND_CLUSTER = naming.INVALID_BACKEND_CLUSTER


def build_cluster(cluster: Cluster) -> Message:
    built = cluster_pb2.Cluster(
        name=cluster.name,
        type=cluster_pb2.Cluster.EDS,
        eds_cluster_config=cluster_pb2.Cluster.EdsClusterConfig(eds_config=ads_config_source()),
        connect_timeout=_duration(cluster.connect_timeout_seconds),
        lb_policy=cluster_pb2.Cluster.ROUND_ROBIN,
    )
    if cluster.protocol is UpstreamProtocol.H2C:
        options = http_protocol_options_pb2.HttpProtocolOptions(
            explicit_http_config=http_protocol_options_pb2.HttpProtocolOptions.ExplicitHttpConfig(
                http2_protocol_options=protocol_pb2.Http2ProtocolOptions(),
            ),
        )
        built.typed_extension_protocol_options[HTTP_PROTOCOL_OPTIONS].CopyFrom(pack(options))
    if cluster.tls is not None:
        built.transport_socket.CopyFrom(build_upstream_tls(cluster.tls))
    if cluster.origin:
        built.metadata.CopyFrom(origin_metadata(cluster.origin))
    if cluster.retry_budget is not None:
        apply_retry_budget(built, cluster.retry_budget)
    apply_backend_connection(built, cluster)
    return built


def build_load_assignment(cluster: Cluster) -> Message:
    return endpoint_pb2.ClusterLoadAssignment(
        cluster_name=cluster.name,
        endpoints=[
            endpoint_components_pb2.LocalityLbEndpoints(
                lb_endpoints=[_lb_endpoint(endpoint) for endpoint in cluster.endpoints],
            ),
        ]
        if cluster.endpoints
        else [],
    )


def build_invalid_backend_cluster() -> Message:
    """A cluster without endpoints; see ``INVALID_BACKEND_CLUSTER``."""
    return cluster_pb2.Cluster(
        name=INVALID_BACKEND_CLUSTER,
        type=cluster_pb2.Cluster.STATIC,
        connect_timeout=_duration(1.0),
        load_assignment=endpoint_pb2.ClusterLoadAssignment(cluster_name=INVALID_BACKEND_CLUSTER),
    )


def _lb_endpoint(endpoint: Endpoint) -> Message:
    built = endpoint_components_pb2.LbEndpoint(
        endpoint=endpoint_components_pb2.Endpoint(
            address=address_pb2.Address(
                socket_address=address_pb2.SocketAddress(
                    address=endpoint.address, port_value=endpoint.port
                ),
            ),
            hostname=endpoint.hostname,
        ),
    )
    if endpoint.weight != 1:
        built.load_balancing_weight.value = endpoint.weight
    return built


def _duration(seconds: float) -> Message:
    duration = duration_pb2.Duration()
    duration.FromNanoseconds(round(seconds * 1_000_000_000))
    return duration
