"""Keep ``traffic.retry``'s CEL (precondition, condition) off gateways Envoy serves: only the
agw proxy evaluates it, and Envoy would refuse agw's type. The policy's status names the
parts there (``enforcement.NOT_ENFORCED_ON_ENVOY_PARTS``); the rest of the retry applies.

Gateways the agw proxy serves, and routes without the CEL, keep their IR objects."""

from __future__ import annotations

import dataclasses

from translator import ir
from translator.options import DataPlane


def strip_retry_conditions(gateway: ir.GatewayIR, data_plane: DataPlane) -> ir.GatewayIR:
    if data_plane is DataPlane.AGW:
        return gateway
    # Matches of one rule share an action: keep sharing the stripped one.
    stripped: dict[int, ir.ForwardAction] = {}
    configs = [
        ir.map_routes(config, lambda route: _route(route, stripped))
        for config in gateway.route_configs
    ]
    if not stripped:
        return gateway
    return dataclasses.replace(gateway, route_configs=tuple(configs))


def _route(route: ir.Route, stripped: dict[int, ir.ForwardAction]) -> ir.Route:
    action = route.action
    if not isinstance(action, ir.ForwardAction) or action.retry is None:
        return route
    retry = action.retry
    if retry.precondition is None and retry.condition is None:
        return route
    plain = stripped.get(id(action))
    if plain is None:
        bare = dataclasses.replace(retry, precondition=None, condition=None)
        plain = stripped[id(action)] = dataclasses.replace(action, retry=bare)
    return dataclasses.replace(route, action=plain)
