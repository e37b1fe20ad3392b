"""Upstream IR: clusters with their endpoints, and secrets."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from translator.ir.connection import OutlierDetection, TcpKeepalive
from translator.ir.policy import BackendPolicy
from translator.ir.session import RetryBudget


class UpstreamProtocol(StrEnum):
    HTTP1 = "HTTP/1.1"
    # Cleartext HTTP/2 with prior knowledge (appProtocol kubernetes.io/h2c).
    H2C = "h2c"


@dataclass(frozen=True, slots=True)
class Endpoint:
    address: str
    port: int
    # Kubernetes zone, pod or node name when known; shown in dumps only.
    hostname: str = ""
    # Relative load-balancing weight (a UDP route's merged backends carry their share here).
    weight: int = 1


@dataclass(frozen=True, slots=True)
class SubjectAltName:
    kind: str  # "DNS" or "URI"
    value: str


@dataclass(frozen=True, slots=True)
class UpstreamTls:
    """TLS to the backend (BackendTLSPolicy): SNI and the name verified, trusted CAs from a
    CA bundle secret or the system store, and an optional client certificate (mutual TLS)."""

    sni: str
    ca_secret: str | None = None
    system_cas: bool = False
    subject_alt_names: tuple[SubjectAltName, ...] = ()
    client_certificate_secret: str | None = None
    # "BackendTLSPolicy/ns/name"; for dumps only.
    origin: str = ""
    # Offered to the backend; empty leaves ALPN to the data plane (by the cluster's protocol).
    alpn_protocols: tuple[str, ...] = ()
    # Verify nothing about the backend's certificate (AgentgatewayPolicy insecureSkipVerify).
    insecure_skip_verify: bool = False


@dataclass(frozen=True, slots=True)
class Cluster:
    """An EDS cluster: its ClusterLoadAssignment carries ``endpoints`` under the same name."""

    name: str
    endpoints: tuple[Endpoint, ...]
    protocol: UpstreamProtocol = UpstreamProtocol.HTTP1
    connect_timeout_seconds: float = 10.0
    tls: UpstreamTls | None = None
    # "Service/ns/name:port"; for dumps only.
    origin: str = ""
    retry_budget: RetryBudget | None = None
    # AgentgatewayPolicy backend settings of this cluster (translator.gatewayapi.policy.connection).
    policy: BackendPolicy | None = None
    keepalive: TcpKeepalive | None = None
    outlier: OutlierDetection | None = None


@dataclass(frozen=True, slots=True)
class TlsCertificate:
    name: str
    certificate_chain: str
    private_key: str


@dataclass(frozen=True, slots=True)
class CaBundle:
    """Trusted CA certificates (PEM), delivered as an SDS validation-context secret."""

    name: str
    certificates: str


Secret = TlsCertificate | CaBundle
