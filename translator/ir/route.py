"""Routing IR: route configurations, virtual hosts and routes, Envoy-shaped, plain values.

Stage 1 produces these in final order (Gateway API precedence already applied); stage 2 and
any reader may rely on tuple order being match order.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from translator.ir.auth import RouteAuth
from translator.ir.policy import BackendPolicy, TrafficPolicy
from translator.ir.ratelimit import GlobalRateLimit
from translator.ir.session import SessionPersistence
from translator.ir.traffic import CsrfPolicy, LocalRateLimit


class PathMatchKind(StrEnum):
    EXACT = "Exact"
    # Segment-aware prefix: "/foo" matches "/foo" and "/foo/bar", never "/foobar".
    PREFIX = "PathPrefix"
    REGEX = "RegularExpression"


class StringMatchKind(StrEnum):
    EXACT = "Exact"
    REGEX = "RegularExpression"


@dataclass(frozen=True, slots=True)
class PathMatch:
    kind: PathMatchKind
    value: str


@dataclass(frozen=True, slots=True)
class HeaderMatch:
    """Header names are lower-case. ``:method`` matches the request method."""

    name: str
    kind: StringMatchKind
    value: str


@dataclass(frozen=True, slots=True)
class QueryParamMatch:
    name: str
    kind: StringMatchKind
    value: str


@dataclass(frozen=True, slots=True)
class RouteMatch:
    path: PathMatch = PathMatch(PathMatchKind.PREFIX, "/")
    headers: tuple[HeaderMatch, ...] = ()
    query_params: tuple[QueryParamMatch, ...] = ()


@dataclass(frozen=True, slots=True)
class HeaderValue:
    name: str
    value: str


@dataclass(frozen=True, slots=True)
class HeaderMutation:
    """``set`` replaces, ``add`` appends, ``remove`` deletes; names are as written by the user."""

    set: tuple[HeaderValue, ...] = ()
    add: tuple[HeaderValue, ...] = ()
    remove: tuple[str, ...] = ()

    def is_empty(self) -> bool:
        return not (self.set or self.add or self.remove)


NO_HEADER_MUTATION = HeaderMutation()


@dataclass(frozen=True, slots=True)
class WeightedBackend:
    """One backendRef. ``cluster`` is None when the ref is invalid: its share answers 500."""

    cluster: str | None
    weight: int
    request_headers: HeaderMutation = NO_HEADER_MUTATION
    response_headers: HeaderMutation = NO_HEADER_MUTATION


class PathRewriteKind(StrEnum):
    FULL = "ReplaceFullPath"
    PREFIX = "ReplacePrefixMatch"


@dataclass(frozen=True, slots=True)
class PathRewrite:
    kind: PathRewriteKind
    value: str


@dataclass(frozen=True, slots=True)
class Mirror:
    cluster: str
    # Fraction of requests mirrored: numerator / denominator (100/100 mirrors all).
    numerator: int = 100
    denominator: int = 100


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int
    status_codes: tuple[int, ...] = ()
    # Base interval of the exponential backoff, seconds; None lets the data plane choose.
    backoff_seconds: float | None = None
    retry_on_connect_failure: bool = True
    # CEL, agw proxy only: which requests may be retried; which responses are.
    precondition: str | None = None
    condition: str | None = None


@dataclass(frozen=True, slots=True)
class ForwardAction:
    backends: tuple[WeightedBackend, ...]
    # Seconds; None means the data plane default, 0 disables the timeout.
    request_timeout: float | None = None
    backend_request_timeout: float | None = None
    retry: RetryPolicy | None = None
    mirrors: tuple[Mirror, ...] = ()
    host_rewrite: str | None = None
    path_rewrite: PathRewrite | None = None
    # The backend speaks WebSocket (appProtocol kubernetes.io/ws): pass upgrades through.
    allow_websocket: bool = False
    # Requests of one session stick to one endpoint (GEP-1619); None balances every request.
    session: SessionPersistence | None = None


@dataclass(frozen=True, slots=True)
class RedirectAction:
    status_code: int = 302
    scheme: str | None = None
    hostname: str | None = None
    # None keeps the port the request came to; 0 strips the port from Location.
    port: int | None = None
    path: PathRewrite | None = None


@dataclass(frozen=True, slots=True)
class DirectResponseAction:
    status_code: int
    body: str = ""


RouteAction = ForwardAction | RedirectAction | DirectResponseAction


@dataclass(frozen=True, slots=True)
class CorsPolicy:
    """Cross-origin resource sharing (GEP-1767): preflights are answered by the gateway.
    Origins are exact ("https://a.example"), "*", or with a wildcard host label
    ("https://*.example.com")."""

    allow_origins: tuple[str, ...]
    allow_methods: tuple[str, ...] = ()
    allow_headers: tuple[str, ...] = ()
    expose_headers: tuple[str, ...] = ()
    max_age_seconds: int = 5
    allow_credentials: bool = False


class ExtAuthProtocol(StrEnum):
    GRPC = "GRPC"
    HTTP = "HTTP"


@dataclass(frozen=True, slots=True)
class ExtAuth:
    """External authorization (GEP-1494): ask ``cluster`` before forwarding; fail closed.
    ``name`` is unique per distinct settings, so routes sharing an auth service share one
    data-plane filter. Header names are lower-case; ``allowed_headers`` empty means the
    protocol's default (gRPC: every header; HTTP: Host, Method, Path, Content-Length and
    Authorization). ``max_body_bytes`` None forwards no body; a longer body is truncated."""

    name: str
    cluster: str
    protocol: ExtAuthProtocol
    # Host:port of the auth Service, for the HTTP service's URI.
    authority: str
    path_prefix: str = ""
    allowed_headers: tuple[str, ...] = ()
    allowed_response_headers: tuple[str, ...] = ()
    max_body_bytes: int | None = None
    timeout_seconds: float = 10.0
    # Let requests through when the service cannot be reached or errs (AgentgatewayPolicy
    # failureMode FailOpen); GEP-1494's filter always fails closed.
    failure_mode_allow: bool = False
    # Sent in the gRPC CheckRequest's context_extensions (routes' CheckSettings), sorted.
    context_extensions: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Route:
    name: str
    match: RouteMatch
    action: RouteAction
    request_headers: HeaderMutation = NO_HEADER_MUTATION
    response_headers: HeaderMutation = NO_HEADER_MUTATION
    # Where it came from, e.g. "HTTPRoute/default/web"; for dumps and access logs only.
    origin: str = ""
    cors: CorsPolicy | None = None
    ext_auth: ExtAuth | None = None
    # AgentgatewayPolicy settings merged for this rule (not enforced by stage 2 yet).
    policy: TrafficPolicy | None = None
    backend_policy: BackendPolicy | None = None
    # From AgentgatewayPolicy traffic settings (translator.gatewayapi.policy.traffic).
    csrf: CsrfPolicy | None = None
    local_rate_limit: LocalRateLimit | None = None
    # Requests with a larger body answer 413; None forwards bodies as they stream.
    buffer_max_bytes: int | None = None
    # Authentication, CEL authorization and transformation (translator.gatewayapi.policy.auth).
    auth: RouteAuth | None = None
    # A rate limit service's verdict (translator.gatewayapi.policy.ratelimit_global).
    global_rate_limit: GlobalRateLimit | None = None


@dataclass(frozen=True, slots=True)
class VirtualHost:
    name: str
    # Envoy domain syntax: "example.com", "*.example.com" or "*".
    domains: tuple[str, ...]
    routes: tuple[Route, ...] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class RouteConfig:
    name: str
    virtual_hosts: tuple[VirtualHost, ...]


def map_routes(config: RouteConfig, change: Callable[[Route], Route]) -> RouteConfig:
    """``config`` with ``change`` applied to every route. Hosts and the config stay the same
    objects where no route changed: incremental translation reuses work by identity."""
    hosts = []
    for host in config.virtual_hosts:
        routes = tuple(change(route) for route in host.routes)
        same = all(a is b for a, b in zip(routes, host.routes, strict=True))
        hosts.append(host if same else dataclasses.replace(host, routes=routes))
    if all(a is b for a, b in zip(hosts, config.virtual_hosts, strict=True)):
        return config
    return dataclasses.replace(config, virtual_hosts=tuple(hosts))
