"""AgentgatewayPolicy attachment, merge and status (stage 1).

``apply_agentgateway_policies`` resolves every policy's targets, merges the policies along
each route's, cluster's and listener's path into the Gateways' IR, and returns the policies'
statuses. Each feature is then resolved into the IR stage 2 maps onto Envoy (or agw's own)
configuration, per the Gateway's data plane; the statuses name what a data plane does not
enforce (``enforcement``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from translator import ir
from translator.gatewayapi.gateway import GatewayState
from translator.gatewayapi.policy.assign import Assigner
from translator.gatewayapi.policy.auth import apply_auth
from translator.gatewayapi.policy.auth_options import note_unverifiable_users
from translator.gatewayapi.policy.backend_refs import note_unresolved_backend_refs
from translator.gatewayapi.policy.backend_route import fold_backend_route_settings
from translator.gatewayapi.policy.backendref import note_unresolved_services
from translator.gatewayapi.policy.cel_check import drop_invalid_expressions
from translator.gatewayapi.policy.connection import fold_backend_policies
from translator.gatewayapi.policy.envoy_cel import for_envoy
from translator.gatewayapi.policy.extauth_policy import (
    apply_policy_ext_auth,
    drop_unresolved_ext_auth,
)
from translator.gatewayapi.policy.frontend import fold_frontend_policy
from translator.gatewayapi.policy.jwks import apply_remote_jwks
from translator.gatewayapi.policy.merge import Merger
from translator.gatewayapi.policy.ratelimit_global import apply_global_rate_limits
from translator.gatewayapi.policy.retry_conditions import strip_retry_conditions
from translator.gatewayapi.policy.status import policy_status
from translator.gatewayapi.policy.targets import index_attachments, prepare, resolve_targets
from translator.gatewayapi.policy.tracing import apply_tracing
from translator.gatewayapi.status import ObjectId, StatusBuilder
from translator.model.agentgateway import AGENTGATEWAY_GROUP
from translator.options import DataPlane
from translator.resources import ResourceSet


def apply_agentgateway_policies(
    resources: ResourceSet,
    states: Mapping[tuple[str, str], GatewayState],
    gateways: dict[str, ir.GatewayIR],
    controller_name: str,
    builders: dict[ObjectId, StatusBuilder],
    data_plane_of: Callable[[str], DataPlane] | None = None,
) -> dict[str, ir.GatewayIR]:
    """``gateways`` with their effective policies; policy statuses go into ``builders``."""
    if not resources.agentgateway_policies:
        return gateways  # the common case: no IR to rebuild
    prepared = [
        drop_invalid_expressions(prepare(policy)) for policy in resources.agentgateway_policies
    ]
    for entry in prepared:
        drop_unresolved_ext_auth(entry, resources)
        note_unresolved_backend_refs(entry, resources)
        note_unresolved_services(entry, resources)
        note_unverifiable_users(entry, resources)
        resolve_targets(entry, resources, states)
    merger = Merger(index_attachments(prepared))
    assigner = Assigner(resources, merger)
    dropped: dict[str, set[str]] = {}
    assigned = {
        key: fold_frontend_policy(
            fold_backend_policies(
                fold_backend_route_settings(
                    assigner.assign(gateway, states[(gateway.namespace, gateway.name)]), resources
                ),
                resources,
                dropped,
            )
        )
        for key, gateway in gateways.items()
    }
    for entry in prepared:
        entry.notes += sorted(dropped.get(entry.origin, ()))
    plane_of = data_plane_of or (lambda _: DataPlane.AGW)
    assigned = {
        key: apply_auth(strip_retry_conditions(gateway, plane_of(key)), plane_of(key), resources)
        for key, gateway in assigned.items()
    }
    assigned = {
        key: apply_remote_jwks(
            apply_global_rate_limits(gateway, plane_of(key), resources), resources
        )
        for key, gateway in assigned.items()
    }
    overridden: dict[str, set[str]] = {}
    assigned = {
        key: apply_tracing(
            apply_policy_ext_auth(gw, resources, overridden), plane_of(key), resources
        )
        for key, gw in assigned.items()
    }
    assigned = {
        key: for_envoy(gw) if plane_of(key) is DataPlane.ENVOY else gw
        for key, gw in assigned.items()
    }
    for entry in prepared:
        entry.notes += sorted(overridden.get(entry.origin, ()))
        status = policy_status(entry, merger, controller_name, data_plane_of)
        if status is not None:
            meta = entry.policy.metadata
            key = ObjectId(AGENTGATEWAY_GROUP, "AgentgatewayPolicy", meta.namespace, meta.name)
            builders[key] = status
    return assigned


__all__ = ["apply_agentgateway_policies"]
