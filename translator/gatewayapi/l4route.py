"""TLSRoute, TCPRoute and UDPRoute: backends per rule, as IR L4 backends.

A stream or datagram carries no path or header to choose a rule by, so the first rule is
the one served (TLSRoute v1 and TCPRoute v1 allow exactly one); later rules are reported.
UDP proxies have no weighted clusters, so a UDPRoute rule with several backends becomes one
merged cluster whose endpoints carry the backends' weights."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from translator import ir, naming
from translator.gatewayapi.backend import BackendProblem, Backends
from translator.gatewayapi.conditions import Reason
from translator.gatewayapi.referencegrant import ReferenceFrom
from translator.gatewayapi.status import GATEWAY_GROUP


@dataclass
class TranslatedL4Route:
    route: Any
    kind: str
    backends: tuple[ir.L4Backend, ...] = ()
    ref_problems: list[tuple[Reason, str]] = field(default_factory=list)
    rule_problems: list[str] = field(default_factory=list)

    @property
    def origin(self) -> str:
        meta = self.route.metadata
        return f"{self.kind}/{meta.namespace}/{meta.name}"


def translate_l4_route(route: Any, kind: str, backends: Backends) -> TranslatedL4Route:
    result = TranslatedL4Route(route=route, kind=kind)
    source = ReferenceFrom(GATEWAY_GROUP, kind, route.metadata.namespace)
    rules = route.spec.rules
    if len(rules) > 1:
        result.rule_problems.append(
            f"spec.rules[1:]: a {kind} serves its first rule only; {len(rules) - 1} more ignored"
        )
    resolved: list[tuple[ir.Cluster | None, int]] = []
    for ref in rules[0].backend_refs:
        weight = 1 if ref.weight is None else ref.weight
        found = backends.resolve(source, ref)
        if isinstance(found, BackendProblem):
            result.ref_problems.append((found.reason, found.message))
            resolved.append((None, weight))
        elif found.blocked:
            resolved.append((None, weight))
        else:
            resolved.append((found.cluster, weight))
    if kind == "UDPRoute":
        result.backends = _merged(route, resolved, backends)
    else:
        result.backends = tuple(
            ir.L4Backend(cluster.name if cluster else None, weight) for cluster, weight in resolved
        )
    return result


def _merged(
    route: Any, resolved: list[tuple[ir.Cluster | None, int]], backends: Backends
) -> tuple[ir.L4Backend, ...]:
    valid = [
        (cluster, weight) for cluster, weight in resolved if cluster is not None and weight > 0
    ]
    if not valid:
        return (ir.L4Backend(None, 1),)
    if len(valid) == 1:
        return (ir.L4Backend(valid[0][0].name, 1),)
    # Each backend's share spread over its endpoints: endpoint weight = weight * L / count.
    counts = [len(cluster.endpoints) for cluster, _ in valid if cluster.endpoints]
    common = math.lcm(*counts) if counts else 1
    endpoints: list[ir.Endpoint] = []
    for cluster, weight in valid:
        for endpoint in cluster.endpoints:
            share = weight * common // len(cluster.endpoints)
            endpoints.append(ir.Endpoint(endpoint.address, endpoint.port, endpoint.hostname, share))
    meta = route.metadata
    name = naming.l4_route_cluster("UDPRoute", meta.namespace, meta.name, 0)
    backends.clusters[name] = ir.Cluster(
        name=name, endpoints=tuple(endpoints), origin=f"UDPRoute/{meta.namespace}/{meta.name}"
    )
    return (ir.L4Backend(name, 1),)
