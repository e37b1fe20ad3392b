"""The ``backend`` and ``frontend`` sections of an AgentgatewayPolicy: how the gateway
connects to backends (TLS, HTTP version, TCP, credentials, passive health) and how it
accepts clients (TLS, HTTP limits, TCP keepalive, PROXY protocol, access logs, tracing,
metrics)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field, StringConstraints

from translator.model.agentgateway_traffic import CELExpression, PolicyModel, TinyString
from translator.model.duration import Duration
from translator.model.shared import BackendObjectReference, ObjectName, PreciseHostname

ShortString = Annotated[str, StringConstraints(min_length=1, max_length=256)]


class Keepalive(PolicyModel):
    retries: Annotated[int, Field(ge=1, le=64)] | None = None
    """Unanswered probes before the connection is dropped."""
    time: Duration | None = None
    """Idle time before the first probe."""
    interval: Duration | None = None
    """Time between probes."""


class InsecureSkipVerify(StrEnum):
    ALL = "All"
    HOSTNAME = "Hostname"


class BackendTls(PolicyModel):
    AT_MOST_ONE = (("verifySubjectAltNames", "insecureSkipVerify"),)

    mtls_certificate_ref: ObjectName | None = None
    """A kubernetes.io/tls Secret presented as the client certificate (mutual TLS)."""
    ca_certificate_ref: ObjectName | None = None
    """A ConfigMap (ca.crt) of trusted CAs; the system store when unset."""
    sni: PreciseHostname | None = None
    """The server name sent; the destination's host name when unset."""
    verify_subject_alt_names: tuple[ShortString, ...] = Field(default=(), max_length=16)
    """Names accepted in the server certificate; the SNI when empty."""
    alpn_protocols: tuple[TinyString, ...] = Field(default=(), max_length=16)
    """ALPN protocols offered; h2 and http/1.1 when empty."""
    insecure_skip_verify: InsecureSkipVerify | None = None
    """All: verify nothing. Hostname: verify the chain but not the name."""


class HttpVersion(StrEnum):
    HTTP1 = "HTTP1"
    HTTP2 = "HTTP2"


class BackendHttp(PolicyModel):
    version: HttpVersion | None = None
    """The HTTP version spoken to the backend; from appProtocol when unset."""
    request_timeout: Duration | None = None
    """Timeout of each attempt to the backend."""


class BackendTcp(PolicyModel):
    connect_timeout: Duration | None = None
    """Deadline for establishing a connection."""
    keepalive: Keepalive | None = None
    """TCP keepalive probes on backend connections."""


class BackendAuth(PolicyModel):
    EXACTLY_ONE = (("key", "secretRef", "passthrough"),)

    key: Annotated[str, StringConstraints(min_length=1, max_length=2048)] | None = None
    """The Authorization header value sent to the backend (prefer secretRef)."""
    secret_ref: ObjectName | None = None
    """A Secret whose Authorization key is sent as the Authorization header."""
    passthrough: bool | None = None
    """Send the client's validated token on to the backend."""


class BackendHealth(PolicyModel):
    consecutive_failures: Annotated[int, Field(ge=1, le=1000)] = 5
    """Consecutive 5xx or connection failures that eject an endpoint."""
    interval: Duration = "10s"
    """How often ejections are reconsidered."""
    base_ejection_time: Duration = "30s"
    """How long an endpoint stays ejected, multiplied by its ejection count."""
    max_ejection_percent: Annotated[int, Field(ge=0, le=100)] = 10
    """The largest share of endpoints ejected at once."""


class Backend(PolicyModel):
    """Settings for connecting to backends. Fields merge one by one: Gateway < listener <
    route < rule < Service < Service port."""

    tls: BackendTls | None = None
    """Originate TLS to the backend."""
    http: BackendHttp | None = None
    """HTTP settings toward the backend."""
    tcp: BackendTcp | None = None
    """TCP settings toward the backend."""
    auth: BackendAuth | None = None
    """Credentials sent to the backend."""
    health: BackendHealth | None = None
    """Passive health checking: eject endpoints that keep failing."""


class TlsVersion(StrEnum):
    TLS12 = "1.2"
    TLS13 = "1.3"


class FrontendTls(PolicyModel):
    min_protocol_version: TlsVersion | None = None
    """Oldest TLS version accepted."""
    max_protocol_version: TlsVersion | None = None
    """Newest TLS version accepted."""
    cipher_suites: tuple[TinyString, ...] = Field(default=(), max_length=64)
    """TLS 1.2 cipher suites accepted (OpenSSL names)."""
    alpn_protocols: tuple[TinyString, ...] = Field(default=(), max_length=16)
    """ALPN protocols offered to clients."""
    handshake_timeout: Duration | None = None
    """Deadline for a TLS handshake to complete."""


class FrontendHttp(PolicyModel):
    max_buffer_size: Annotated[int, Field(ge=1)] | None = None
    """Largest body buffered for policies that need it."""
    http1_max_headers: Annotated[int, Field(ge=1)] | None = None
    """Most headers an HTTP/1.1 request may carry."""
    max_header_bytes: Annotated[int, Field(ge=1)] | None = None
    """Largest total size of a request's headers."""
    http1_idle_timeout: Duration | None = None
    """Idle time before an HTTP/1.1 connection is closed."""
    http2_window_size: Annotated[int, Field(ge=1)] | None = None
    """Initial HTTP/2 stream flow-control window."""
    http2_connection_window_size: Annotated[int, Field(ge=1)] | None = None
    """Initial HTTP/2 connection flow-control window."""
    http2_frame_size: Annotated[int, Field(ge=16384, le=16777215)] | None = None
    """Largest HTTP/2 frame."""
    http2_keepalive_interval: Duration | None = None
    """Interval between HTTP/2 PINGs on idle connections."""
    http2_keepalive_timeout: Duration | None = None
    """Time to wait for a PING's answer."""


class FrontendTcp(PolicyModel):
    keepalive: Keepalive
    """TCP keepalive probes on client connections."""


class ProxyProtocolMode(StrEnum):
    STRICT = "Strict"
    OPTIONAL = "Optional"


class ProxyProtocol(PolicyModel):
    mode: ProxyProtocolMode = ProxyProtocolMode.STRICT
    """Strict requires a PROXY header (v1 or v2); Optional accepts connections without."""


class Attribute(PolicyModel):
    name: ShortString
    """The attribute's key."""
    expression: CELExpression
    """A CEL expression whose result is the value; failures leave the attribute out."""


class Attributes(PolicyModel):
    remove: tuple[TinyString, ...] = Field(default=(), max_length=32)
    """Default attributes left out."""
    add: tuple[Attribute, ...] = Field(default=(), max_length=64)
    """Attributes added."""


class AccessLog(PolicyModel):
    filter: CELExpression | None = None
    """Only requests for which this expression is true are logged."""
    attributes: Attributes | None = None
    """Changes to the logged attributes."""


class TracingProtocol(StrEnum):
    HTTP = "HTTP"
    GRPC = "GRPC"


class Tracing(PolicyModel):
    backend_ref: BackendObjectReference
    """The OpenTelemetry (OTLP) collector."""
    protocol: TracingProtocol = TracingProtocol.HTTP
    """The OTLP transport."""
    attributes: Attributes | None = None
    """Changes to span attributes."""
    random_sampling: CELExpression | None = None
    """Share (0.0-1.0, or a boolean) of untraced requests that start a trace."""
    client_sampling: CELExpression | None = None
    """Share of already traced requests that are sampled."""


class Metrics(PolicyModel):
    attributes: Attributes
    """Extra labels on request metrics, computed by CEL."""


class Frontend(PolicyModel):
    """Settings for accepting clients; only a whole Gateway may be targeted."""

    tls: FrontendTls | None = None
    """TLS settings for clients."""
    http: FrontendHttp | None = None
    """HTTP limits and timeouts."""
    tcp: FrontendTcp | None = None
    """TCP settings for clients."""
    proxy_protocol: ProxyProtocol | None = None
    """Expect a PROXY protocol header before each connection's data."""
    access_log: AccessLog | None = None
    """Access log lines, filtered and shaped by CEL."""
    tracing: Tracing | None = None
    """OpenTelemetry tracing."""
    metrics: Metrics | None = None
    """Extra metric labels."""
