"""Every route kind: attach to listeners, translate rules, and record route statuses.

HTTPRoutes and GRPCRoutes become HTTP rule templates; TLSRoutes, TCPRoutes and UDPRoutes
become L4 backends. Stream and datagram routes are taken oldest first, so that when a TCP or
UDP listener can carry only one of them the oldest keeps it."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from translator.gatewayapi.backend import Backends
from translator.gatewayapi.conditions import ConditionType, Reason
from translator.gatewayapi.gateway import GatewayState
from translator.gatewayapi.grpcroute import translate_grpc_route
from translator.gatewayapi.httproute import TranslatedRoute, translate_http_route
from translator.gatewayapi.l4route import TranslatedL4Route, translate_l4_route
from translator.gatewayapi.listener import GatewayListener
from translator.gatewayapi.parentref import attach_route
from translator.gatewayapi.status import (
    GATEWAY_GROUP,
    ObjectId,
    RouteParentStatus,
    RouteStatus,
    StatusBuilder,
)
from translator.resources import ResourceSet


@dataclass
class TranslatedRoutes:
    """By id() of the route object."""

    http: dict[int, TranslatedRoute] = field(default_factory=dict)
    l4: dict[int, TranslatedL4Route] = field(default_factory=dict)


def translate_routes(
    resources: ResourceSet,
    states: Mapping[tuple[str, str], GatewayState],
    namespace_labels: Mapping[str, Mapping[str, str]],
    backends: Backends,
    controller_name: str,
    builders: dict[ObjectId, StatusBuilder],
    listener_sets: Mapping[tuple[str, str], Sequence[GatewayListener]],
) -> TranslatedRoutes:
    translated = TranslatedRoutes()

    def each(
        kind: str, routes: Iterable[Any], translate: Callable[[Any], Any], store: dict[int, Any]
    ) -> None:
        for route in routes:
            hostnames = [str(h) for h in getattr(route.spec, "hostnames", None) or ()]
            parents = attach_route(
                route, kind, hostnames, states, namespace_labels, controller_name, listener_sets
            )
            if not parents:
                continue
            result = translate(route)
            store[id(route)] = result
            served = bool(result.rules) if isinstance(result, TranslatedRoute) else True
            _finish_parents(parents, result.ref_problems, result.rule_problems, served)
            meta = route.metadata
            builders[ObjectId(GATEWAY_GROUP, kind, meta.namespace, meta.name)] = RouteStatus(
                meta.generation, parents
            )

    each(
        "HTTPRoute",
        resources.http_routes,
        lambda r: translate_http_route(r, backends),
        translated.http,
    )
    each(
        "GRPCRoute",
        resources.grpc_routes,
        lambda r: translate_grpc_route(r, backends),
        translated.http,
    )
    for kind, routes in (
        ("TLSRoute", resources.tls_routes),
        ("TCPRoute", resources.tcp_routes),
        ("UDPRoute", resources.udp_routes),
    ):
        each(kind, sorted(routes, key=_age), functools.partial(_l4, kind, backends), translated.l4)
    return translated


def _l4(kind: str, backends: Backends, route: Any) -> TranslatedL4Route:
    return translate_l4_route(route, kind, backends)


def _age(route: Any) -> tuple[str, str, str]:
    meta = route.metadata
    return (meta.creation_timestamp or "", meta.namespace, meta.name)


def _finish_parents(
    parents: list[RouteParentStatus],
    ref_problems: list[tuple[Reason, str]],
    rule_problems: list[str],
    served: bool,
) -> None:
    """ResolvedRefs and PartiallyInvalid are facts of the route, the same for every parent."""
    for parent in parents:
        conditions = parent.conditions
        if conditions.is_true(ConditionType.ACCEPTED) and rule_problems:
            message = "; ".join(rule_problems)
            if served:
                conditions.set(
                    ConditionType.PARTIALLY_INVALID, True, Reason.UNSUPPORTED_VALUE, message
                )
            else:
                conditions.set(ConditionType.ACCEPTED, False, Reason.UNSUPPORTED_VALUE, message)
        if ref_problems:
            reason, message = ref_problems[0]
            conditions.set(ConditionType.RESOLVED_REFS, False, reason, message)
        else:
            conditions.set(
                ConditionType.RESOLVED_REFS, True, Reason.RESOLVED_REFS, "All references resolved"
            )
