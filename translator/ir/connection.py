"""Connection settings from AgentgatewayPolicy ``backend`` and ``frontend`` sections, resolved
by stage 1 (durations in seconds, unset fields None) for stage 2 to map onto Envoy fields."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TcpKeepalive:
    probes: int | None = None
    idle_seconds: float | None = None
    interval_seconds: float | None = None


@dataclass(frozen=True, slots=True)
class OutlierDetection:
    """Passive health: eject an endpoint after consecutive 5xx answers or connect failures."""

    consecutive_failures: int
    interval_seconds: float
    base_ejection_seconds: float
    max_ejection_percent: int


@dataclass(frozen=True, slots=True)
class DownstreamTlsParams:
    min_version: str | None = None  # "1.2" or "1.3"
    max_version: str | None = None
    cipher_suites: tuple[str, ...] = ()
    # Replaces the listener's default ALPN list when non-empty.
    alpn_protocols: tuple[str, ...] = ()
    handshake_timeout_seconds: float | None = None


@dataclass(frozen=True, slots=True)
class DownstreamHttp:
    max_buffer_bytes: int | None = None
    max_headers: int | None = None
    max_header_bytes: int | None = None
    idle_timeout_seconds: float | None = None
    http2_stream_window: int | None = None
    http2_connection_window: int | None = None
    # The largest HTTP/2 frame payload the gateway accepts (SETTINGS_MAX_FRAME_SIZE).
    http2_frame_size: int | None = None
    # HTTP/2 PING keepalive: after this much silence, and how long its answer may take.
    http2_keepalive_interval_seconds: float | None = None
    http2_keepalive_timeout_seconds: float | None = None


@dataclass(frozen=True, slots=True)
class CelAttribute:
    """An attribute of an access-log line or a span, computed when the request ends."""

    name: str
    # CEL; its value is recorded under ``name``.
    expression: str


@dataclass(frozen=True, slots=True)
class AccessLogPolicy:
    # CEL; only requests for which it is true are logged.
    filter: str | None = None
    add: tuple[CelAttribute, ...] = ()
    # Default attributes left out.
    remove: tuple[str, ...] = ()


# A sampling share in [0, 1] the translator could compute, or CEL the agw proxy evaluates per
# request.
Sampling = float | str


@dataclass(frozen=True, slots=True)
class TracingPolicy:
    """OpenTelemetry spans for every request, exported over OTLP to one collector."""

    # The collector's cluster, and its host:port for the OTLP/HTTP URI.
    cluster: str
    authority: str
    grpc: bool
    # The spans' ``service.name``.
    service_name: str
    # Requests without a sampled trace context: agentgateway's default is none of them.
    random_sampling: Sampling = 0.0
    # Requests whose traceparent says sampled.
    client_sampling: Sampling = 1.0
    add: tuple[CelAttribute, ...] = ()
    # Default attributes left out.
    remove: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class MetricLabel:
    name: str
    # CEL; its value labels the agw proxy's request counter under ``name``.
    expression: str


@dataclass(frozen=True, slots=True)
class FrontendConnection:
    """What a Gateway's frontend policy asks of every listener."""

    tls: DownstreamTlsParams | None = None
    http: DownstreamHttp | None = None
    keepalive: TcpKeepalive | None = None
    access_log: AccessLogPolicy | None = None
    # A PROXY protocol header: None not expected, True required, False read when present.
    proxy_protocol_required: bool | None = None
    # Extra request-counter labels; only the agw proxy counts them (stage 1 drops them for
    # Envoy gateways).
    metric_labels: tuple[MetricLabel, ...] = ()
    tracing: TracingPolicy | None = None
