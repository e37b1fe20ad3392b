"""Stage 1 entry point: Gateway API objects to per-gateway IR and every status."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from translator import ir
from translator.gatewayapi.assemble import RouteCache, build_gateway_ir
from translator.gatewayapi.backend import Backends
from translator.gatewayapi.conditions import ConditionType, Reason
from translator.gatewayapi.gateway import GatewayState, translate_gateway, translate_gateway_class
from translator.gatewayapi.httproute import TranslatedRoute, translate_http_route
from translator.gatewayapi.parentref import NAMESPACE_NAME_LABEL, attach_route
from translator.gatewayapi.referencegrant import ReferenceGrants
from translator.gatewayapi.status import (
    GATEWAY_GROUP,
    ObjectId,
    RouteParentStatus,
    RouteStatus,
    StatusBuilder,
    render_statuses,
)
from translator.options import TranslateOptions
from translator.resources import ResourceSet


@dataclass(frozen=True)
class GatewayApiResult:
    # "namespace/name" -> IR, only for accepted Gateways of our classes.
    gateways: dict[str, ir.GatewayIR]
    statuses: dict[ObjectId, dict[str, Any]]


def translate_gateway_api(resources: ResourceSet, options: TranslateOptions) -> GatewayApiResult:
    builders: dict[ObjectId, StatusBuilder] = {}
    our_classes: set[str] = set()
    for gateway_class in resources.gateway_classes:
        class_status = translate_gateway_class(gateway_class, options)
        if class_status is None:
            continue
        builders[ObjectId(GATEWAY_GROUP, "GatewayClass", "", gateway_class.metadata.name)] = (
            class_status
        )
        if class_status.conditions.is_true(ConditionType.ACCEPTED):
            our_classes.add(gateway_class.metadata.name)

    grants = ReferenceGrants(resources.reference_grants)
    states: dict[tuple[str, str], GatewayState] = {}
    for gateway in resources.gateways:
        if gateway.spec.gateway_class_name not in our_classes:
            continue
        state = translate_gateway(resources, grants, gateway, options)
        meta = gateway.metadata
        states[(meta.namespace, meta.name)] = state
        builders[ObjectId(GATEWAY_GROUP, "Gateway", meta.namespace, meta.name)] = state.status

    namespace_labels = {
        ns.metadata.name: {**ns.metadata.labels, NAMESPACE_NAME_LABEL: ns.metadata.name}
        for ns in resources.namespaces
    }
    backends = Backends(resources, grants)
    translated: dict[int, TranslatedRoute] = {}
    for route in resources.http_routes:
        hostnames = [str(h) for h in route.spec.hostnames or ()]
        parents = attach_route(
            route, "HTTPRoute", hostnames, states, namespace_labels, options.controller_name
        )
        if not parents:
            continue
        result = translate_http_route(route, backends)
        translated[id(route)] = result
        _finish_route_parents(parents, result)
        meta = route.metadata
        builders[ObjectId(GATEWAY_GROUP, "HTTPRoute", meta.namespace, meta.name)] = RouteStatus(
            meta.generation, parents
        )

    cache = RouteCache(translated)
    gateways = {
        f"{ns}/{name}": build_gateway_ir(state, cache, backends.clusters)
        for (ns, name), state in sorted(states.items())
        if state.status.conditions.is_true(ConditionType.ACCEPTED)
    }
    return GatewayApiResult(gateways=gateways, statuses=render_statuses(builders))


def _finish_route_parents(parents: list[RouteParentStatus], result: TranslatedRoute) -> None:
    """ResolvedRefs and PartiallyInvalid are facts of the route, the same for every parent."""
    for parent in parents:
        conditions = parent.conditions
        if conditions.is_true(ConditionType.ACCEPTED) and result.rule_problems:
            message = "; ".join(result.rule_problems)
            if result.rules:
                conditions.set(
                    ConditionType.PARTIALLY_INVALID, True, Reason.UNSUPPORTED_VALUE, message
                )
            else:
                conditions.set(ConditionType.ACCEPTED, False, Reason.UNSUPPORTED_VALUE, message)
        if result.ref_problems:
            reason, message = result.ref_problems[0]
            conditions.set(ConditionType.RESOLVED_REFS, False, reason, message)
        else:
            conditions.set(
                ConditionType.RESOLVED_REFS, True, Reason.RESOLVED_REFS, "All references resolved"
            )
