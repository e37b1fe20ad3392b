"""Stage 1 entry point: Gateway API objects to per-gateway IR and every status."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from translator import ir
from translator.gatewayapi.assemble import RouteCache, build_gateway_ir
from translator.gatewayapi.backend import Backends
from translator.gatewayapi.backendtls import policy_ancestors, policy_statuses
from translator.gatewayapi.backendtraffic import traffic_policy_statuses
from translator.gatewayapi.conditions import ConditionType
from translator.gatewayapi.frontendtls import apply_frontend_validation
from translator.gatewayapi.gateway import GatewayState, translate_gateway, translate_gateway_class
from translator.gatewayapi.listenerset import attach_listener_sets
from translator.gatewayapi.parentref import NAMESPACE_NAME_LABEL
from translator.gatewayapi.policy import apply_agentgateway_policies
from translator.gatewayapi.referencegrant import ReferenceGrants
from translator.gatewayapi.routes import translate_routes
from translator.gatewayapi.status import (
    GATEWAY_GROUP,
    ObjectId,
    StatusBuilder,
    render_statuses,
)
from translator.incremental import TranslationMemo
from translator.model import GatewayClass
from translator.options import TranslateOptions
from translator.resources import ResourceSet


@dataclass(frozen=True)
class GatewayApiResult:
    # "namespace/name" -> IR, only for accepted Gateways of our classes.
    gateways: dict[str, ir.GatewayIR]
    statuses: dict[ObjectId, dict[str, Any]]


def translate_gateway_api(
    resources: ResourceSet, options: TranslateOptions, memo: TranslationMemo | None = None
) -> GatewayApiResult:
    builders: dict[ObjectId, StatusBuilder] = {}
    our_classes: dict[str, GatewayClass] = {}
    for gateway_class in resources.gateway_classes:
        class_status = translate_gateway_class(resources, gateway_class, options)
        if class_status is None:
            continue
        builders[ObjectId(GATEWAY_GROUP, "GatewayClass", "", gateway_class.metadata.name)] = (
            class_status
        )
        if class_status.conditions.is_true(ConditionType.ACCEPTED):
            our_classes[gateway_class.metadata.name] = gateway_class

    grants = ReferenceGrants(resources.reference_grants)
    states: dict[tuple[str, str], GatewayState] = {}
    for gateway in resources.gateways:
        gateway_class_of = our_classes.get(gateway.spec.gateway_class_name)
        if gateway_class_of is None:
            continue
        state = translate_gateway(resources, grants, gateway_class_of, gateway, options)
        meta = gateway.metadata
        states[(meta.namespace, meta.name)] = state
        builders[ObjectId(GATEWAY_GROUP, "Gateway", meta.namespace, meta.name)] = state.status

    namespace_labels = {
        ns.metadata.name: {**ns.metadata.labels, NAMESPACE_NAME_LABEL: ns.metadata.name}
        for ns in resources.namespaces
    }
    listener_sets = attach_listener_sets(resources, grants, states, namespace_labels, builders)
    for state in states.values():
        apply_frontend_validation(resources, grants, state.gateway, state.listeners, state.status)
    backends = Backends(resources, grants)
    routes = translate_routes(
        resources,
        states,
        namespace_labels,
        backends,
        options.controller_name,
        builders,
        {key: entry.listeners for key, entry in listener_sets.items()},
        memo,
    )

    attached = [
        (key, [a.route for listener in state.listeners for a in listener.attachments.values()])
        for key, state in states.items()
    ]
    ancestors = policy_ancestors(attached, resources, backends.policies)
    builders.update(policy_statuses(backends.policies.verdicts, ancestors, options.controller_name))
    builders.update(
        traffic_policy_statuses(attached, backends.traffic_policies, options.controller_name)
    )
    cache = RouteCache(routes.http, memo.ir_routes if memo is not None else None)
    gateways = {
        f"{ns}/{name}": build_gateway_ir(state, cache, routes.l4, backends)
        for (ns, name), state in sorted(states.items())
        if state.status.conditions.is_true(ConditionType.ACCEPTED)
    }
    gateways = apply_agentgateway_policies(
        resources, states, gateways, options.controller_name, builders, options.data_plane_of
    )
    rendered = memo.statuses if memo is not None else None
    return GatewayApiResult(gateways=gateways, statuses=render_statuses(builders, rendered))
