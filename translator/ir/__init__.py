"""The intermediate representation between stage 1 (Gateway API) and stage 2 (Envoy protos).

Envoy-shaped but plain Python: frozen dataclasses, tuples in final order, names final. Stage 2
turns a ``GatewayIR`` into xDS resources one to one, with no Gateway API knowledge.
"""

from __future__ import annotations

from dataclasses import dataclass

from translator.ir.cluster import (
    CaBundle,
    Cluster,
    Endpoint,
    Secret,
    SubjectAltName,
    TlsCertificate,
    UpstreamProtocol,
    UpstreamTls,
)
from translator.ir.listener import (
    ClientValidation,
    DownstreamTls,
    FilterChain,
    HttpFilterChain,
    L4Backend,
    Listener,
    ListenerProtocol,
    TcpFilterChain,
    UdpFilterChain,
)
from translator.ir.route import (
    NO_HEADER_MUTATION,
    CorsPolicy,
    DirectResponseAction,
    ExtAuth,
    ExtAuthProtocol,
    ForwardAction,
    HeaderMatch,
    HeaderMutation,
    HeaderValue,
    Mirror,
    PathMatch,
    PathMatchKind,
    PathRewrite,
    PathRewriteKind,
    QueryParamMatch,
    RedirectAction,
    RetryPolicy,
    Route,
    RouteAction,
    RouteConfig,
    RouteMatch,
    StringMatchKind,
    VirtualHost,
    WeightedBackend,
    map_routes,
)
from translator.ir.session import (
    CookieSession,
    HeaderSession,
    RetryBudget,
    SessionKind,
    SessionPersistence,
)
from translator.ir.traffic import CsrfPolicy, LocalRateLimit


@dataclass(frozen=True, slots=True)
class GatewayIR:
    """Everything one gateway's data planes need. Tuples are sorted by name."""

    namespace: str
    name: str
    listeners: tuple[Listener, ...]
    route_configs: tuple[RouteConfig, ...]
    clusters: tuple[Cluster, ...]
    secrets: tuple[Secret, ...]


__all__ = [
    "NO_HEADER_MUTATION",
    "CaBundle",
    "ClientValidation",
    "Cluster",
    "CookieSession",
    "CorsPolicy",
    "CsrfPolicy",
    "DirectResponseAction",
    "DownstreamTls",
    "Endpoint",
    "ExtAuth",
    "ExtAuthProtocol",
    "FilterChain",
    "ForwardAction",
    "GatewayIR",
    "HeaderMatch",
    "HeaderMutation",
    "HeaderSession",
    "HeaderValue",
    "HttpFilterChain",
    "L4Backend",
    "Listener",
    "ListenerProtocol",
    "LocalRateLimit",
    "Mirror",
    "PathMatch",
    "PathMatchKind",
    "PathRewrite",
    "PathRewriteKind",
    "QueryParamMatch",
    "RedirectAction",
    "RetryBudget",
    "RetryPolicy",
    "Route",
    "RouteAction",
    "RouteConfig",
    "RouteMatch",
    "Secret",
    "SessionKind",
    "SessionPersistence",
    "StringMatchKind",
    "SubjectAltName",
    "TcpFilterChain",
    "TlsCertificate",
    "UdpFilterChain",
    "UpstreamProtocol",
    "UpstreamTls",
    "VirtualHost",
    "WeightedBackend",
    "map_routes",
]
