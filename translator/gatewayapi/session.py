"""Session persistence (GEP-1619) on route rules and XBackendTrafficPolicy, to IR.

Both data planes keep the endpoint in the session token (Envoy's stateful-session encoding),
so what is expressible is what Envoy's cookie and header session states express: a cookie
with a path and, for permanent cookies, a Max-Age that is also the session's absolute
timeout; or a header. Idle timeouts, and absolute timeouts on browser-session cookies or on
headers, cannot be enforced: such a rule is reported UnsupportedValue instead of being served
with a weaker promise than the user asked for."""

from __future__ import annotations

import dataclasses
import hashlib
import math
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from translator import ir
from translator.gatewayapi.filters import UnsupportedFilter
from translator.model.duration import parse_duration
from translator.model.shared import CookieLifetimeType, SessionPersistence, SessionPersistenceType

if TYPE_CHECKING:  # backend.py imports this module through backendtraffic.py
    from translator.gatewayapi.backend import Backends

# RFC 6265 cookie names and RFC 9110 header names are both tokens.
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")


def session_persistence(
    spec: SessionPersistence, owner: str, paths: Sequence[ir.PathMatch], where: str
) -> ir.SessionPersistence:
    """``owner`` ("HTTPRoute/ns/name/rule/0") seeds the default session name; ``paths`` are
    the rule's path matches, which scope the cookie."""
    where = f"{where}.sessionPersistence"
    if spec.idle_timeout is not None:
        raise UnsupportedFilter(
            f"{where}.idleTimeout is not supported: sessions cannot be ended after idle time"
        )
    name = spec.session_name or default_session_name(owner)
    if not _TOKEN.match(name):
        raise UnsupportedFilter(
            f"{where}.sessionName {name!r} is not a valid cookie or header name"
        )
    timeout = (
        math.ceil(parse_duration(spec.absolute_timeout))
        if spec.absolute_timeout is not None
        else None
    )
    if spec.type is SessionPersistenceType.HEADER:
        if timeout is not None:
            raise UnsupportedFilter(
                f"{where}.absoluteTimeout is not supported for header-based sessions"
            )
        return ir.HeaderSession(name.lower())
    permanent = (
        spec.cookie_config is not None
        and spec.cookie_config.lifetime_type is CookieLifetimeType.PERMANENT
    )
    if timeout is not None and not permanent:
        raise UnsupportedFilter(
            f"{where}.absoluteTimeout is supported only with cookieConfig.lifetimeType"
            " Permanent: a session cookie cannot carry an expiry"
        )
    return ir.CookieSession(name, cookie_path(paths), timeout)


def default_session_name(owner: str) -> str:
    """Stable per rule or policy, so two rules never share sessions by accident."""
    return "agw-session-" + hashlib.sha256(owner.encode()).hexdigest()[:12]


def cookie_path(paths: Sequence[ir.PathMatch]) -> str:
    """The longest path every match lies under (GEP-1619: the cookie is scoped to the rule's
    paths); "/" when a match is a regular expression."""
    if not paths or any(path.kind is ir.PathMatchKind.REGEX for path in paths):
        return "/"
    segments = [path.value.strip("/").split("/") for path in paths]
    common: list[str] = []
    for parts in zip(*segments, strict=False):
        if any(part != parts[0] for part in parts):
            break
        common.append(parts[0])
    return "/" + "/".join(part for part in common if part)


def sticky_action(action: ir.ForwardAction, backends: Backends, name: str) -> ir.ForwardAction:
    """A session rule's valid backends merged into one cluster ``name`` whose endpoints carry
    the backends' weights: the data plane picks the cluster before the endpoint, so a session
    can only survive a change of weights when every endpoint it may name is in one cluster.
    Left as is when the backends cannot share a cluster (per-backend filters, different
    protocols, TLS or retry budgets)."""
    valid = [backend for backend in action.backends if backend.cluster is not None]
    if len(valid) < 2 or any(
        not (backend.request_headers.is_empty() and backend.response_headers.is_empty())
        for backend in valid
    ):
        return action
    clusters = [(backends.clusters[str(backend.cluster)], backend.weight) for backend in valid]
    if len({(c.protocol, c.tls, c.retry_budget) for c, _ in clusters}) > 1:
        return action
    # Each backend's share spread over its endpoints: endpoint weight = weight * L / count.
    counts = [len(cluster.endpoints) for cluster, _ in clusters if cluster.endpoints]
    common = math.lcm(*counts) if counts else 1
    shares: dict[tuple[str, int, str], int] = {}
    for cluster, weight in clusters:
        for endpoint in cluster.endpoints:
            key = (endpoint.address, endpoint.port, endpoint.hostname)
            shares[key] = shares.get(key, 0) + weight * common // len(cluster.endpoints)
    first = clusters[0][0]
    backends.register(
        dataclasses.replace(
            first,
            name=name,
            endpoints=tuple(ir.Endpoint(*key, weight) for key, weight in shares.items()),
            origin=" + ".join(cluster.origin for cluster, _ in clusters),
        )
    )
    merged = ir.WeightedBackend(name, sum(backend.weight for backend in valid))
    invalid = tuple(backend for backend in action.backends if backend.cluster is None)
    return dataclasses.replace(action, backends=(merged, *invalid))
