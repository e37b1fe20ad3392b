"""Compiled route tables: what the request path reads, with no further parsing.

One ``RouteTable`` per RouteConfiguration. Virtual hosts are found with Envoy's precedence
(exact domain, then the longest ``*suffix`` wildcard, then the longest ``prefix*`` wildcard,
then ``*``); routes are tried in order and the first match wins.
"""

from __future__ import annotations

import random
import re
from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import dataclass

from dataplane.config.cors import CorsPolicy
from dataplane.config.header_mutation import NO_OPS, HeaderOps
from dataplane.config.matcher import PathKind, PathMatcher, RequestPredicate
from dataplane.config.policy_auth import RouteAuth
from dataplane.config.ratelimit_global import Descriptor
from dataplane.config.retry_conditions import RetryConditions
from dataplane.config.session import SessionConfig
from dataplane.config.traffic import RouteTraffic
from dataplane.errors import InvalidConfig
from dataplane.request import RequestHead

_random = random.random
_randrange = random.randrange


@dataclass(frozen=True, slots=True)
class FaultAbort:
    """An ``envoy.filters.http.fault`` abort: answer ``status`` for a share of requests."""

    status: int
    numerator: int
    denominator: int

    def fires(self) -> bool:
        return self.numerator >= self.denominator or _randrange(self.denominator) < self.numerator


@dataclass(frozen=True, slots=True)
class ClusterTarget:
    """One weighted cluster with every header mutation that applies when it is chosen."""

    cluster: str
    weight: int
    request_ops: HeaderOps = NO_OPS
    response_ops: HeaderOps = NO_OPS
    fault: FaultAbort | None = None


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    num_retries: int
    on_5xx: bool
    on_gateway_error: bool
    on_reset: bool
    on_connect_failure: bool
    status_codes: frozenset[int]
    # Seconds; 0 means no per-try timeout.
    per_try_timeout: float
    base_interval: float
    max_interval: float
    # agw's CEL retry conditions; None without any.
    conditions: RetryConditions | None = None

    def retries_status(self, status: int) -> bool:
        if status in self.status_codes:
            return True
        if self.on_5xx and status >= 500:
            return True
        return self.on_gateway_error and status in (502, 503, 504)

    def retries_connect_failure(self) -> bool:
        return self.on_connect_failure or self.on_5xx or self.on_gateway_error

    def retries_reset(self) -> bool:
        return self.on_reset or self.on_5xx or self.on_gateway_error

    def backoff(self, attempt: int) -> float:
        """Envoy's fully jittered exponential backoff for retry number ``attempt`` (1-based)."""
        ceiling = min(self.base_interval * float(1 << min(attempt - 1, 16)), self.max_interval)
        return float(_random() * ceiling)


@dataclass(frozen=True, slots=True)
class MirrorPolicy:
    cluster: str
    numerator: int
    denominator: int

    def fires(self) -> bool:
        return self.numerator >= self.denominator or _randrange(self.denominator) < self.numerator


@dataclass(frozen=True, slots=True)
class ForwardAction:
    targets: tuple[ClusterTarget, ...]
    # Running sums of the targets' weights, for a bisect on a random number.
    cumulative: tuple[int, ...]
    # Seconds; 0 disables the route timeout.
    timeout: float
    retry: RetryPolicy | None
    mirrors: tuple[MirrorPolicy, ...]
    prefix_rewrite: bytes | None
    regex_rewrite: tuple[re.Pattern[bytes], bytes] | None
    host_rewrite: bytes | None
    # The route's websocket upgrade setting; None defers to the connection manager.
    websocket: bool | None
    cluster_not_found_status: int

    def pick(self) -> ClusterTarget:
        targets = self.targets
        if len(targets) == 1:
            return targets[0]
        return targets[bisect_right(self.cumulative, _randrange(self.cumulative[-1]))]


@dataclass(frozen=True, slots=True)
class RedirectAction:
    status: int
    scheme: bytes | None
    host: bytes | None
    # ":8080" style; empty when the redirect does not set one.
    port: bytes
    path: bytes | None
    prefix_rewrite: bytes | None
    strip_query: bool


@dataclass(frozen=True, slots=True)
class DirectResponse:
    status: int
    body: bytes


RouteAction = ForwardAction | RedirectAction | DirectResponse


@dataclass(frozen=True, slots=True)
class RouteEntry:
    name: str
    path: PathMatcher
    predicates: tuple[RequestPredicate, ...]
    action: RouteAction
    # Route, virtual host and route configuration levels, flattened in Envoy's order.
    request_ops: HeaderOps
    response_ops: HeaderOps
    fault: FaultAbort | None = None
    cors: CorsPolicy | None = None
    # ext_authz filters this route turns on (True) or off (False), by filter name.
    ext_authz: tuple[tuple[str, bool], ...] = ()
    # The context extensions this route sends each gRPC ext_authz filter, by filter name.
    ext_authz_context: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = ()
    # Stateful session (cookie or header): requests of a session stick to one endpoint.
    session: SessionConfig | None = None
    # AgentgatewayPolicy local rate limit, CSRF and buffer limit (dataplane.traffic).
    traffic: RouteTraffic | None = None
    # agw's CEL authorization and transformation (dataplane.policy_auth).
    auth: RouteAuth | None = None
    # Global rate limits: (ratelimit filter name, descriptors) the route turns on.
    global_rate_limits: tuple[tuple[str, tuple[Descriptor, ...]], ...] = ()

    def rewrite_path(self, path: bytes, prefix_rewrite: bytes) -> bytes:
        """Replace the matched prefix (or the whole exact path) with ``prefix_rewrite``."""
        if self.path.kind is PathKind.EXACT:
            return prefix_rewrite
        return prefix_rewrite + path[len(self.path.value) :]


@dataclass(frozen=True, slots=True)
class VirtualHostTable:
    name: str
    routes: tuple[RouteEntry, ...]

    def select(self, request: RequestHead) -> RouteEntry | None:
        path = request.path
        lowered: bytes | None = None
        for route in self.routes:
            matcher = route.path
            candidate = path
            if not matcher.case_sensitive:
                if lowered is None:
                    lowered = path.lower()
                candidate = lowered
            kind = matcher.kind
            if kind is PathKind.PREFIX:
                if not candidate.startswith(matcher.value):
                    continue
            elif kind is PathKind.EXACT:
                if candidate != matcher.value:
                    continue
            elif not matcher.matches(path):
                continue
            for predicate in route.predicates:
                if not predicate(request):
                    break
            else:
                return route
        return None


@dataclass(frozen=True, slots=True)
class RouteTable:
    name: str
    exact: Mapping[bytes, VirtualHostTable]
    # (length, {suffix: vhost}) longest first; the wildcard matches at least one character.
    suffixes: tuple[tuple[int, Mapping[bytes, VirtualHostTable]], ...]
    prefixes: tuple[tuple[int, Mapping[bytes, VirtualHostTable]], ...]
    default: VirtualHostTable | None
    route_count: int = 0

    def virtual_host(self, host: bytes) -> VirtualHostTable | None:
        found = self.exact.get(host)
        if found is not None:
            return found
        size = len(host)
        for length, by_suffix in self.suffixes:
            if size > length:
                found = by_suffix.get(host[size - length :])
                if found is not None:
                    return found
        for length, by_prefix in self.prefixes:
            if size > length:
                found = by_prefix.get(host[:length])
                if found is not None:
                    return found
        return self.default

    def select(self, request: RequestHead) -> RouteEntry | None:
        vhost = self.virtual_host(request.host)
        return None if vhost is None else vhost.select(request)


def build_route_table(
    name: str, vhosts: list[tuple[tuple[str, ...], VirtualHostTable]]
) -> RouteTable:
    """Index virtual hosts by domain. As in Envoy, a domain may appear only once."""
    exact: dict[bytes, VirtualHostTable] = {}
    suffixes: dict[int, dict[bytes, VirtualHostTable]] = {}
    prefixes: dict[int, dict[bytes, VirtualHostTable]] = {}
    default: VirtualHostTable | None = None
    seen: set[bytes] = set()
    for domains, vhost in vhosts:
        for domain in domains:
            lowered = domain.lower().encode()
            if lowered in seen:
                raise InvalidConfig(
                    f"RouteConfiguration {name!r}: domain {domain!r} appears in two virtual hosts"
                )
            seen.add(lowered)
            if lowered == b"*":
                default = vhost
            elif lowered.startswith(b"*"):
                suffixes.setdefault(len(lowered) - 1, {})[lowered[1:]] = vhost
            elif lowered.endswith(b"*"):
                prefixes.setdefault(len(lowered) - 1, {})[lowered[:-1]] = vhost
            else:
                exact[lowered] = vhost
    return RouteTable(
        name=name,
        exact=exact,
        suffixes=tuple(sorted(suffixes.items(), reverse=True)),
        prefixes=tuple(sorted(prefixes.items(), reverse=True)),
        default=default,
        route_count=sum(len(vhost.routes) for _, vhost in vhosts),
    )
