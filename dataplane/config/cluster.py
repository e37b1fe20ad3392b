"""Compile a Cluster and its ClusterLoadAssignment into a ``ClusterConfig``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from envoy.extensions.upstreams.http.v3 import http_protocol_options_pb2

from dataplane.config.connection import Keepalive, compile_cluster_keepalive
from dataplane.config.support import check_fields
from dataplane.config.tls_context import UpstreamTls, compile_upstream_tls
from dataplane.config.values import seconds
from dataplane.errors import InvalidConfig, UnsupportedField, UnsupportedValue
from dataplane.retry_budget import METADATA_NAMESPACE, RetryBudgetConfig, compile_retry_budget

DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_IDLE_TIMEOUT = 3600.0
DEFAULT_BUFFER_LIMIT = 1 << 20
# Envoy's circuit-breaker defaults; agw applies them per endpoint pool.
DEFAULT_MAX_CONNECTIONS = 1024
DEFAULT_MAX_PENDING = 1024
DEFAULT_MAX_RETRIES = 3
HTTP_PROTOCOL_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
# Streams per upstream HTTP/2 connection before another is opened (Envoy: unlimited).
DEFAULT_MAX_STREAMS = 1024
DEFAULT_STREAM_WINDOW = 256 * 1024
DEFAULT_CONNECTION_WINDOW = 1024 * 1024
# RFC 9113: SETTINGS_MAX_FRAME_SIZE's identifier, and the range of its value.
SETTINGS_MAX_FRAME_SIZE = 0x5
MIN_MAX_FRAME_SIZE = 16384
MAX_MAX_FRAME_SIZE = 16777215
_SERVING = frozenset({0, 1})  # UNKNOWN, HEALTHY; DEGRADED (5) serves too, below.
_DEGRADED = 5


@dataclass(frozen=True, slots=True)
class OutlierPolicy:
    """Passive ejection of an endpoint after consecutive connect failures."""

    consecutive_failures: int = 1
    base_ejection: float = 2.0
    max_ejection: float = 30.0
    # Consecutive 5xx answers or connect failures that eject (Envoy's consecutive_5xx); 0: off.
    consecutive_5xx: int = 0


@dataclass(frozen=True, slots=True)
class EndpointConfig:
    host: str
    port: int
    weight: int = 1
    hostname: str = ""


@dataclass(frozen=True, slots=True)
class BackendIdentity:
    """agentgateway's ``backend`` variable: what requests sent to a cluster go to."""

    name: str
    type: str
    # CEL runs on HTTP requests only.
    protocol: str = "http"


@dataclass(frozen=True, slots=True)
class ClusterConfig:
    name: str
    endpoints: tuple[EndpointConfig, ...]
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT
    buffer_limit: int = DEFAULT_BUFFER_LIMIT
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    max_pending: int = DEFAULT_MAX_PENDING
    max_retries: int = DEFAULT_MAX_RETRIES
    outlier: OutlierPolicy = OutlierPolicy()
    # An EDS cluster whose ClusterLoadAssignment has not arrived yet (Envoy keeps it warming).
    warming: bool = False
    # HTTP/2 with prior knowledge (h2c) to the endpoints, and its settings.
    http2: bool = False
    max_concurrent_streams: int = DEFAULT_MAX_STREAMS
    stream_window: int = DEFAULT_STREAM_WINDOW
    connection_window: int = DEFAULT_CONNECTION_WINDOW
    # connection_keepalive (seconds): PING after this much silence, close unanswered after.
    keepalive_interval: float | None = None
    keepalive_timeout: float | None = None
    # TLS to the endpoints (transport_socket); its context is built once secrets are resolved.
    tls: UpstreamTls | None = None
    retry_budget: RetryBudgetConfig | None = None
    keepalive: Keepalive | None = None
    # ``backend`` to CEL for requests sent here (``backend_identity``).
    backend: BackendIdentity | None = None


@dataclass(frozen=True, slots=True)
class Http2Options:
    max_concurrent_streams: int = DEFAULT_MAX_STREAMS
    stream_window: int = DEFAULT_STREAM_WINDOW
    connection_window: int = DEFAULT_CONNECTION_WINDOW
    # The largest frame payload accepted (RFC 9113's default unless custom SETTINGS raise it).
    max_frame_size: int = MIN_MAX_FRAME_SIZE
    # connection_keepalive (seconds): PING after this much silence, close unanswered after.
    keepalive_interval: float | None = None
    keepalive_timeout: float | None = None


def http2_options(options: Any, defaults: Http2Options) -> Http2Options:
    """The ``Http2ProtocolOptions`` fields agw honours (on clusters and connection managers)."""

    def value(field: str, default: int) -> int:
        return int(getattr(options, field).value) if options.HasField(field) else default

    keepalive = options.connection_keepalive if options.HasField("connection_keepalive") else None
    return Http2Options(
        max_concurrent_streams=value("max_concurrent_streams", defaults.max_concurrent_streams),
        stream_window=value("initial_stream_window_size", defaults.stream_window),
        connection_window=value("initial_connection_window_size", defaults.connection_window),
        max_frame_size=_max_frame_size(options.custom_settings_parameters, defaults),
        keepalive_interval=(
            seconds(keepalive.interval) if keepalive and keepalive.HasField("interval") else None
        ),
        # Envoy's default: 20 s for a PING's answer.
        keepalive_timeout=seconds(keepalive.timeout) if keepalive else None,
    )


def _max_frame_size(parameters: Any, defaults: Http2Options) -> int:
    """``custom_settings_parameters``: only SETTINGS_MAX_FRAME_SIZE, which Envoy sends and
    honours although it has no named field for it."""
    size = defaults.max_frame_size
    for parameter in parameters:
        identifier, value = parameter.identifier.value, parameter.value.value
        if identifier != SETTINGS_MAX_FRAME_SIZE:
            where = "Http2ProtocolOptions.custom_settings_parameters.identifier"
            raise UnsupportedValue(where, identifier)
        if not MIN_MAX_FRAME_SIZE <= value <= MAX_MAX_FRAME_SIZE:
            raise InvalidConfig(f"SETTINGS_MAX_FRAME_SIZE {value} is outside RFC 9113's range")
        size = value
    return size


def compile_cluster(cluster: Any, assignment: Any | None) -> ClusterConfig:
    where = f"Cluster {cluster.name!r}"
    check_fields(cluster, where=where)
    kind = cluster.DESCRIPTOR.fields_by_name["type"].enum_type.values_by_number[cluster.type].name
    if kind == "STATIC":
        assignment = cluster.load_assignment
    elif assignment is not None:
        check_fields(assignment, where=f"ClusterLoadAssignment {cluster.name!r}")
    endpoints = compile_endpoints(assignment) if assignment is not None else ()
    limits = _circuit_breakers(cluster)
    protocol = cluster.common_http_protocol_options
    http2 = _upstream_http2(cluster.typed_extension_protocol_options, where)
    options = http2 or Http2Options()
    return ClusterConfig(
        name=cluster.name,
        endpoints=endpoints,
        connect_timeout=(
            seconds(cluster.connect_timeout)
            if cluster.HasField("connect_timeout")
            else DEFAULT_CONNECT_TIMEOUT
        ),
        idle_timeout=(
            seconds(protocol.idle_timeout)
            if protocol.HasField("idle_timeout")
            else DEFAULT_IDLE_TIMEOUT
        ),
        buffer_limit=(
            cluster.per_connection_buffer_limit_bytes.value
            if cluster.HasField("per_connection_buffer_limit_bytes")
            else DEFAULT_BUFFER_LIMIT
        ),
        max_connections=limits[0],
        max_pending=limits[1],
        max_retries=limits[2],
        outlier=_outlier(cluster),
        warming=assignment is None,
        http2=http2 is not None,
        max_concurrent_streams=options.max_concurrent_streams,
        stream_window=options.stream_window,
        connection_window=options.connection_window,
        tls=(
            compile_upstream_tls(cluster.transport_socket, where)
            if cluster.HasField("transport_socket")
            else None
        ),
        retry_budget=compile_retry_budget(cluster),
        keepalive=compile_cluster_keepalive(cluster),
        backend=backend_identity(cluster),
    )


def backend_identity(cluster: Any) -> BackendIdentity:
    """agentgateway's ``backend`` variable (``name``, ``type``, ``protocol``) for a cluster.

    agw's translator notes where a cluster came from in its ``agw`` metadata ``origin``:
    "Service/ns/name:port", or several joined by " + " for a session-persistence cluster that
    merges a rule's backends. That gives agentgateway's name ("service/ns/name:port") and type
    ("service"). A cluster without the note (another control plane's) is named as it is, of
    type "unknown".
    """
    notes = cluster.metadata.filter_metadata.get(METADATA_NAMESPACE)
    origin = (
        notes.fields["origin"].string_value
        if notes is not None and "origin" in notes.fields
        else ""
    )
    parts = [part.partition("/") for part in origin.split(" + ")] if origin else []
    if parts and all(kind == "Service" and rest for kind, _, rest in parts):
        name = " + ".join(f"service/{rest}" for _, _, rest in parts)
        kind = "service"
    else:
        name, kind = cluster.name, "unknown"
    return BackendIdentity(name, kind)


def _upstream_http2(extensions: Any, where: str) -> Http2Options | None:
    """The upstream protocol from ``typed_extension_protocol_options``: None for HTTP/1.1."""
    result = None
    for name, packed in extensions.items():
        if name != HTTP_PROTOCOL_OPTIONS:
            raise UnsupportedValue("Cluster.typed_extension_protocol_options", name, where)
        options = http_protocol_options_pb2.HttpProtocolOptions()
        if not packed.Unpack(options):
            raise UnsupportedValue(f"{name}.type_url", packed.type_url, where)
        check_fields(options, where=where)
        explicit = options.explicit_http_config
        if explicit.HasField("http2_protocol_options"):
            if explicit.http2_protocol_options.HasField("connection_keepalive"):
                raise UnsupportedField(
                    "Http2ProtocolOptions.connection_keepalive (upstream)", where
                )
            if explicit.http2_protocol_options.custom_settings_parameters:
                raise UnsupportedField(
                    "Http2ProtocolOptions.custom_settings_parameters (upstream)", where
                )
            result = http2_options(explicit.http2_protocol_options, Http2Options())
        elif explicit.http_protocol_options.ListFields():
            raise UnsupportedField(
                "HttpProtocolOptions.explicit_http_config.http_protocol_options (upstream)", where
            )
    return result


def compile_endpoints(assignment: Any) -> tuple[EndpointConfig, ...]:
    endpoints: list[EndpointConfig] = []
    for locality in assignment.endpoints:
        if locality.priority != 0:
            raise UnsupportedValue("LocalityLbEndpoints.priority", locality.priority)
        for lb_endpoint in locality.lb_endpoints:
            if lb_endpoint.health_status not in _SERVING and lb_endpoint.health_status != _DEGRADED:
                continue
            address = lb_endpoint.endpoint.address.socket_address
            if not address.address or not address.port_value:
                raise InvalidConfig(
                    f"ClusterLoadAssignment {assignment.cluster_name!r}: "
                    "an endpoint needs an address and a port"
                )
            weight = (
                lb_endpoint.load_balancing_weight.value
                if lb_endpoint.HasField("load_balancing_weight")
                else 1
            )
            endpoints.append(
                EndpointConfig(
                    address.address, address.port_value, weight, lb_endpoint.endpoint.hostname
                )
            )
    return tuple(endpoints)


def _circuit_breakers(cluster: Any) -> tuple[int, int, int]:
    values = [DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_PENDING, DEFAULT_MAX_RETRIES]
    for threshold in cluster.circuit_breakers.thresholds:
        for index, field in enumerate(("max_connections", "max_pending_requests", "max_retries")):
            if threshold.HasField(field):
                values[index] = getattr(threshold, field).value
    return values[0], values[1], values[2]


def _outlier(cluster: Any) -> OutlierPolicy:
    if not cluster.HasField("outlier_detection"):
        return OutlierPolicy()
    detection = cluster.outlier_detection
    default = OutlierPolicy()
    return OutlierPolicy(
        consecutive_failures=(
            detection.consecutive_local_origin_failure.value
            if detection.HasField("consecutive_local_origin_failure")
            else default.consecutive_failures
        ),
        base_ejection=(
            seconds(detection.base_ejection_time)
            if detection.HasField("base_ejection_time")
            else default.base_ejection
        ),
        max_ejection=(
            seconds(detection.max_ejection_time)
            if detection.HasField("max_ejection_time")
            else max(default.max_ejection, seconds(detection.base_ejection_time))
        ),
        consecutive_5xx=(
            detection.consecutive_5xx.value if detection.HasField("consecutive_5xx") else 0
        ),
    )
