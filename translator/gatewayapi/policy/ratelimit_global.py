"""``traffic.rateLimit.global`` into the IR: the rate limit service's cluster, and per route the
descriptors to send it (``ir.ratelimit``).

Each descriptor entry is a CEL expression. Where it is one Envoy's rate limit actions compute
(a string literal, a request header, ``request.method``/``host``/``pathAndQuery``, a header
compared with a string, ``source.address`` under the key ``remote_address``) it becomes that
action, for both data planes. Anything else is CEL only the agw proxy evaluates: on a Gateway
served by Envoy the descriptor holding it is left out, and the policy's status says so
(``envoy_rate_limit_gaps``).

The service is a backendRef resolved like a route's (ReferenceGrants from the policy's
namespace), always spoken to over HTTP/2. An unresolvable one (or one whose
BackendTLSPolicy gives no trust) leaves the limit out.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any

from translator import ir, naming
from translator.gatewayapi.policy.backendref import PolicyBackendRefs
from translator.ir.policy import PolicyField
from translator.ir.ratelimit import (
    REMOTE_ADDRESS_KEY,
    CelEntry,
    DescriptorEntry,
    GenericEntry,
    GlobalRateLimit,
    HeaderEntry,
    HeaderMatchEntry,
    RateLimitService,
    RemoteAddressEntry,
)
from translator.options import DataPlane
from translator.resources import ResourceSet
from translator.xds.cel_expr import descriptor_form


def apply_global_rate_limits(
    gateway: ir.GatewayIR, data_plane: DataPlane, resources: ResourceSet
) -> ir.GatewayIR:
    """``gateway`` with each route's global rate limit, the services' clusters and each HTTP
    chain's rate limit filters; the same object when no route has one."""
    builder = _Builder(data_plane, resources)
    configs = tuple(builder.route_config(config) for config in gateway.route_configs)
    if not builder.used:
        return gateway
    listeners = tuple(_listener(listener, builder.used) for listener in gateway.listeners)
    clusters = builder.refs.with_clusters(gateway)
    return dataclasses.replace(
        gateway, route_configs=configs, listeners=listeners, clusters=clusters
    )


class _Builder:
    def __init__(self, data_plane: DataPlane, resources: ResourceSet) -> None:
        self.envoy = data_plane is DataPlane.ENVOY
        self.refs = PolicyBackendRefs(resources)
        self._limits: dict[str, GlobalRateLimit | None] = {}
        # route config name -> services its routes use, by name
        self.used: dict[str, dict[str, RateLimitService]] = {}

    def route_config(self, config: ir.RouteConfig) -> ir.RouteConfig:
        return ir.map_routes(config, lambda route: self.route(config.name, route))

    def route(self, config: str, route: ir.Route) -> ir.Route:
        found = route.policy.get("rateLimit") if route.policy is not None else None
        if found is None or "global" not in found.data():
            return route
        limit = self.limit(found)
        if limit is None:
            return route
        self.used.setdefault(config, {})[limit.service.name] = limit.service
        return dataclasses.replace(route, global_rate_limit=limit)

    def limit(self, found: PolicyField) -> GlobalRateLimit | None:
        key = found.origin + found.settings
        if key not in self._limits:
            self._limits[key] = self._build(found)
        return self._limits[key]

    def _build(self, found: PolicyField) -> GlobalRateLimit | None:
        spec = found.data()["global"]
        cluster = self.refs.resolve(found.origin, spec["backendRef"], ir.UpstreamProtocol.H2C)
        if cluster is None:
            return None
        deny = spec.get("failureMode", "FailOpen") == "FailClosed"
        digest = _digest([spec["domain"], deny])
        service = RateLimitService(
            name=naming.rate_limit_filter(cluster.name, digest),
            cluster=cluster.name,
            domain=spec["domain"],
            failure_mode_deny=deny,
        )
        descriptors = tuple(
            entries
            for entries in (_entries(d["entries"]) for d in spec["descriptors"])
            if not (self.envoy and any(isinstance(e, CelEntry) for e in entries))
        )
        return GlobalRateLimit(service, descriptors)


def _entries(entries: list[dict[str, str]]) -> tuple[DescriptorEntry, ...]:
    return tuple(descriptor_entry(e["name"], e["expression"]) for e in entries)


def descriptor_entry(key: str, expression: str) -> DescriptorEntry:
    """The Envoy rate limit action ``expression`` amounts to, or CEL for the agw proxy."""
    form = descriptor_form(expression)
    if form is None:
        return CelEntry(key, expression)
    kind = form[0]
    if kind == "generic":
        return GenericEntry(key, form[1])
    if kind == "header":
        return HeaderEntry(key, form[1])
    if kind == "header_match":
        return HeaderMatchEntry(key, form[1], form[2])
    # Envoy names the entry itself; another key needs the proxy.
    return RemoteAddressEntry() if key == REMOTE_ADDRESS_KEY else CelEntry(key, expression)


def envoy_rate_limit_gaps(settings: str | None) -> list[str]:
    """Paths of the descriptors (in ``traffic.rateLimit`` canonical JSON) Envoy cannot
    compute: they need CEL."""
    if settings is None:
        return []
    spec = json.loads(settings).get("global")
    if spec is None:
        return []
    return [
        f"traffic.rateLimit.global.descriptors[{index}]"
        for index, descriptor in enumerate(spec["descriptors"])
        if any(isinstance(e, CelEntry) for e in _entries(descriptor["entries"]))
    ]


def _listener(listener: ir.Listener, used: dict[str, dict[str, RateLimitService]]) -> ir.Listener:
    chains = []
    for chain in listener.filter_chains:
        if isinstance(chain, ir.HttpFilterChain) and used.get(chain.route_config):
            services = used[chain.route_config]
            ordered = tuple(services[name] for name in sorted(services))
            chain = dataclasses.replace(chain, rate_limit_services=ordered)
        chains.append(chain)
    if all(a is b for a, b in zip(chains, listener.filter_chains, strict=True)):
        return listener
    return dataclasses.replace(listener, filter_chains=tuple(chains))


def _digest(settings: list[Any]) -> str:
    """Stable across processes (unlike hash()), so filter names are too."""
    return hashlib.sha256(repr(settings).encode()).hexdigest()[:8]
