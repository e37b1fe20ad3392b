"""Listener IR: one listener per (gateway, port), filter chains chosen by SNI."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from translator.ir.auth import JwtAuthn
from translator.ir.connection import FrontendConnection
from translator.ir.policy import FrontendPolicy
from translator.ir.ratelimit import RateLimitService
from translator.ir.route import ExtAuth
from translator.ir.session import SessionKind


class ListenerProtocol(StrEnum):
    HTTP = "HTTP"
    HTTPS = "HTTPS"
    TLS = "TLS"
    TCP = "TCP"
    UDP = "UDP"


@dataclass(frozen=True, slots=True)
class ClientValidation:
    """Frontend client-certificate validation (GEP-91): CAs by SDS secret name; with
    ``required`` a client without a valid certificate fails the handshake, otherwise
    (AllowInsecureFallback) it is let through."""

    ca_secret: str
    required: bool = True


@dataclass(frozen=True, slots=True)
class DownstreamTls:
    """TLS termination: certificates by SDS secret name; the data plane picks by SNI."""

    certificate_secrets: tuple[str, ...]
    alpn_protocols: tuple[str, ...] = ("h2", "http/1.1")
    client_validation: ClientValidation | None = None


@dataclass(frozen=True, slots=True)
class HttpFilterChain:
    name: str
    # SNI names this chain serves; empty means any (the catch-all chain).
    server_names: tuple[str, ...]
    route_config: str
    tls: DownstreamTls | None = None
    # Some route of this chain's configuration has a CORS policy: the CORS filter must run.
    cors: bool = False
    # The distinct external-auth settings this chain's routes use, sorted by name: one
    # disabled-by-default filter each, enabled per route.
    ext_auths: tuple[ExtAuth, ...] = ()
    # The session kinds this chain's routes persist by: non-empty adds the stateful-session
    # filter, which stays inert except on routes that configure a session.
    session_kinds: tuple[SessionKind, ...] = ()
    # AgentgatewayPolicy filters some route of this chain uses (ir.traffic.TRAFFIC_FILTERS
    # order); each stays inert except on routes that configure it.
    traffic_filters: tuple[str, ...] = ()
    # agw's authentication/authorization/transformation filters some route of this chain uses
    # (ir.auth.AUTH_FILTERS order); each stays inert except on routes that configure it.
    auth_filters: tuple[str, ...] = ()
    # The distinct JWT requirements of this chain's routes, sorted by name: the jwt_authn
    # filter holds them all, each route names its own.
    jwt_authns: tuple[JwtAuthn, ...] = ()
    # The distinct rate limit services this chain's routes ask, sorted by name: one filter
    # each, off except on the routes that use it.
    rate_limit_services: tuple[RateLimitService, ...] = ()


@dataclass(frozen=True, slots=True)
class L4Backend:
    """A weighted upstream for a stream (TCP, TLS) or datagram (UDP) route. ``cluster`` is None
    for an invalid backendRef: its share of connections is refused."""

    cluster: str | None
    weight: int


@dataclass(frozen=True, slots=True)
class TcpFilterChain:
    """A TCP proxy: to ``backends``, after terminating ``tls`` when it is set. ``server_names``
    select the chain by SNI (TLS passthrough or terminate); empty means any."""

    name: str
    server_names: tuple[str, ...]
    backends: tuple[L4Backend, ...]
    tls: DownstreamTls | None = None
    # Where it came from, e.g. "TLSRoute/default/db"; for dumps only.
    origin: str = ""


@dataclass(frozen=True, slots=True)
class UdpFilterChain:
    """A UDP proxy with per-client sessions, to ``backends``."""

    name: str
    backends: tuple[L4Backend, ...]
    idle_timeout_seconds: float = 60.0
    origin: str = ""


FilterChain = HttpFilterChain | TcpFilterChain | UdpFilterChain


@dataclass(frozen=True, slots=True)
class Listener:
    """``filter_chains`` of a UDP listener hold exactly one UdpFilterChain; other listeners
    may mix HTTP and TCP chains on one port (HTTPS and TLS share a port by SNI)."""

    name: str
    address: str
    port: int
    protocol: ListenerProtocol
    filter_chains: tuple[FilterChain, ...]
    # The Gateway's AgentgatewayPolicy frontend settings, and what stage 2 enforces of them.
    frontend: FrontendPolicy | None = None
    connection: FrontendConnection | None = None
