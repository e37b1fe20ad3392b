"""Stage 1 entry point: Gateway API objects to per-gateway IR and every status.

Stage 1 first makes what it can of the context (``TranslatedContext``: GatewayClasses,
Gateways and their listeners, ListenerSets, backends, L4 routes), then attaches the HTTP and
gRPC routes (``AttachedRoutes``), then assembles each Gateway's IR and applies policies. With
a memo, the translated context and its attached routes carry over to the next run while the
context stays the same, so a run costs what changed among the routes (translator.incremental).
Not while BackendTLSPolicies or XBackendTrafficPolicies exist: which of them a run reports on
depends on every route's backend lookups, so each run then starts from a fresh context (and
replays the routes it translated before)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from translator import ir
from translator.gatewayapi.assemble import build_gateway_ir, listener_feeds
from translator.gatewayapi.attached import AttachedRoutes
from translator.gatewayapi.backend import Backends
from translator.gatewayapi.backendtls import policy_ancestors, policy_statuses
from translator.gatewayapi.backendtraffic import traffic_policy_statuses
from translator.gatewayapi.conditions import ConditionType
from translator.gatewayapi.frontendtls import apply_frontend_validation
from translator.gatewayapi.gateway import GatewayState, translate_gateway, translate_gateway_class
from translator.gatewayapi.l4route import TranslatedL4Route
from translator.gatewayapi.listenerset import attach_listener_sets
from translator.gatewayapi.parentref import NAMESPACE_NAME_LABEL
from translator.gatewayapi.policy import apply_agentgateway_policies
from translator.gatewayapi.referencegrant import ReferenceGrants
from translator.gatewayapi.routes import RouteContext, translate_l4_routes
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
    # By object, in no particular order; readers must not mutate them.
    statuses: dict[ObjectId, dict[str, Any]]


class TranslatedContext:
    """Everything stage 1 makes of the objects that are not HTTP or gRPC routes, and the HTTP
    and gRPC routes attached to it (``routes``)."""

    def __init__(self, resources: ResourceSet, options: TranslateOptions) -> None:
        self.controller_name = options.controller_name
        # Statuses of everything but HTTP and gRPC routes and policies.
        self.builders: dict[ObjectId, StatusBuilder] = {}
        grants = ReferenceGrants(resources.reference_grants)
        self.states = _our_gateways(resources, grants, options, self.builders)
        namespace_labels = {
            ns.metadata.name: {**ns.metadata.labels, NAMESPACE_NAME_LABEL: ns.metadata.name}
            for ns in resources.namespaces
        }
        listener_sets = attach_listener_sets(
            resources, grants, self.states, namespace_labels, self.builders
        )
        for state in self.states.values():
            apply_frontend_validation(
                resources, grants, state.gateway, state.listeners, state.status
            )
        self.backends = Backends(resources, grants)
        context = RouteContext(
            self.states,
            namespace_labels,
            self.backends,
            options.controller_name,
            {key: entry.listeners for key, entry in listener_sets.items()},
        )
        self.l4: dict[int, TranslatedL4Route] = translate_l4_routes(
            resources, context, self.builders
        )
        feeds = {key: listener_feeds(state) for key, state in self.states.items()}
        self.routes = AttachedRoutes(context, feeds)
        # Backend policy statuses depend on every route's lookups: see the module docstring.
        self.backend_policies = bool(
            resources.backend_tls_policies or resources.backend_traffic_policies
        )


def _our_gateways(
    resources: ResourceSet,
    grants: ReferenceGrants,
    options: TranslateOptions,
    builders: dict[ObjectId, StatusBuilder],
) -> dict[tuple[str, str], GatewayState]:
    """The Gateways of our accepted GatewayClasses, translated; statuses go into
    ``builders``."""
    our_classes: dict[str, GatewayClass] = {}
    for gateway_class in resources.gateway_classes:
        class_status = translate_gateway_class(resources, gateway_class, options)
        if class_status is None:
            continue
        key = ObjectId(GATEWAY_GROUP, "GatewayClass", "", gateway_class.metadata.name)
        builders[key] = class_status
        if class_status.conditions.is_true(ConditionType.ACCEPTED):
            our_classes[gateway_class.metadata.name] = gateway_class
    states: dict[tuple[str, str], GatewayState] = {}
    for gateway in resources.gateways:
        gateway_class_of = our_classes.get(gateway.spec.gateway_class_name)
        if gateway_class_of is None:
            continue
        state = translate_gateway(resources, grants, gateway_class_of, gateway, options)
        meta = gateway.metadata
        states[(meta.namespace, meta.name)] = state
        builders[ObjectId(GATEWAY_GROUP, "Gateway", meta.namespace, meta.name)] = state.status
    return states


def translate_gateway_api(
    resources: ResourceSet, options: TranslateOptions, memo: TranslationMemo | None = None
) -> GatewayApiResult:
    context = memo.stage1 if memo is not None else None
    if not isinstance(context, TranslatedContext):
        context = TranslatedContext(resources, options)
        if memo is not None and not context.backend_policies:
            memo.stage1 = context
    entries = memo.routes if memo is not None and memo.stage1 is not context else None
    context.routes.sync(
        {"HTTPRoute": resources.http_routes, "GRPCRoute": resources.grpc_routes}, entries
    )
    builders = dict(context.builders)
    if context.backend_policies:
        builders.update(_backend_policy_statuses(resources, context))
    gateways = {
        f"{ns}/{name}": build_gateway_ir(state, context.routes.tables, context.l4, context.backends)
        for (ns, name), state in sorted(context.states.items())
        if state.status.conditions.is_true(ConditionType.ACCEPTED)
    }
    gateways = apply_agentgateway_policies(
        resources,
        context.states,
        gateways,
        options.controller_name,
        builders,
        options.data_plane_of,
    )
    return GatewayApiResult(gateways=gateways, statuses=_statuses(context.routes, builders))


def _backend_policy_statuses(
    resources: ResourceSet, context: TranslatedContext
) -> dict[ObjectId, StatusBuilder]:
    attached = [
        (key, [a.route for listener in state.listeners for a in listener.attachments.values()])
        for key, state in context.states.items()
    ]
    backends = context.backends
    ancestors = policy_ancestors(attached, resources, backends.policies)
    found: dict[ObjectId, StatusBuilder] = {}
    found.update(policy_statuses(backends.policies.verdicts, ancestors, context.controller_name))
    found.update(
        traffic_policy_statuses(attached, backends.traffic_policies, context.controller_name)
    )
    return found


def _statuses(
    routes: AttachedRoutes, builders: dict[ObjectId, StatusBuilder]
) -> dict[ObjectId, dict[str, Any]]:
    """Every status: the attached routes' as they were rendered, the others (a few Gateways
    and their kin, L4 routes, policies) rendered now. Not sorted: ordering thousands of keys
    again on every update cost more than the rest of a route change."""
    return {**render_statuses(builders), **routes.statuses}
