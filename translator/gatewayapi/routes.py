"""Every route kind: attach to listeners, translate rules, and record route statuses.

HTTPRoutes and GRPCRoutes become HTTP rule templates; TLSRoutes, TCPRoutes and UDPRoutes
become L4 backends. Stream and datagram routes are taken oldest first, so that when a TCP or
UDP listener can carry only one of them the oldest keeps it.

HTTPRoutes and GRPCRoutes depend on nothing but themselves and the context (see
translator.memo), so with a memo an unchanged one is replayed: its attachments recorded on
the same listeners again, its backend lookups made again (they register clusters), its status
and rules reused as they were."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from translator.gatewayapi.backend import Backends
from translator.gatewayapi.conditions import ConditionType, Reason
from translator.gatewayapi.gateway import GatewayState
from translator.gatewayapi.grpcroute import translate_grpc_route
from translator.gatewayapi.httproute import TranslatedRoute, translate_http_route
from translator.gatewayapi.l4route import TranslatedL4Route, translate_l4_route
from translator.gatewayapi.listener import GatewayListener
from translator.gatewayapi.parentref import attach_route, record_attachment
from translator.gatewayapi.status import (
    GATEWAY_GROUP,
    ObjectId,
    RouteParentStatus,
    RouteStatus,
    StatusBuilder,
)
from translator.incremental import TranslationMemo
from translator.memo import IdentityMemo
from translator.resources import ResourceSet


@dataclass(frozen=True, slots=True)
class RouteEntry:
    """What translating one HTTPRoute or GRPCRoute did, to do again without the work."""

    # (gateway key, index in the gateway's listeners, hostnames served there).
    attachments: tuple[tuple[tuple[str, str], int, tuple[str, ...]], ...]
    backend_calls: tuple[tuple[Any, Any, Any], ...]
    status: RouteStatus | None
    result: TranslatedRoute | None


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
    memo: TranslationMemo | None = None,
) -> TranslatedRoutes:
    context = _Context(states, namespace_labels, backends, controller_name, listener_sets)
    translated = TranslatedRoutes()
    entries = memo.routes if memo is not None else IdentityMemo[RouteEntry]()
    http_kinds: list[tuple[str, Sequence[Any], Callable[[Any, Backends], TranslatedRoute]]] = [
        ("HTTPRoute", resources.http_routes, translate_http_route),
        ("GRPCRoute", resources.grpc_routes, translate_grpc_route),
    ]
    for kind, http_routes, translate in http_kinds:
        for route in http_routes:
            entry = entries.get(route)
            if entry is None:
                entry = context.translate_http(route, kind, translate)
                entries.put(route, entry)
            else:
                context.replay(entry, route)
            if entry.status is not None and entry.result is not None:
                translated.http[id(route)] = entry.result
                builders[_object_id(kind, route)] = entry.status
    for kind, routes in (
        ("TLSRoute", resources.tls_routes),
        ("TCPRoute", resources.tcp_routes),
        ("UDPRoute", resources.udp_routes),
    ):
        for route in sorted(routes, key=_age):
            parents = context.attach(route, kind)
            if not parents:
                continue
            result = translate_l4_route(route, kind, backends)
            translated.l4[id(route)] = result
            _finish_parents(parents, result.ref_problems, result.rule_problems, True)
            builders[_object_id(kind, route)] = RouteStatus(route.metadata.generation, parents)
    return translated


@dataclass
class _Context:
    states: Mapping[tuple[str, str], GatewayState]
    namespace_labels: Mapping[str, Mapping[str, str]]
    backends: Backends
    controller_name: str
    listener_sets: Mapping[tuple[str, str], Sequence[GatewayListener]]

    @functools.cached_property
    def positions(self) -> dict[int, tuple[tuple[str, str], int]]:
        """id() of every listener -> (its gateway's key, its index among the listeners)."""
        return {
            id(listener): (key, index)
            for key, state in self.states.items()
            for index, listener in enumerate(state.listeners)
        }

    def attach(
        self, route: Any, kind: str, touched: list[GatewayListener] | None = None
    ) -> list[RouteParentStatus]:
        hostnames = [str(h) for h in getattr(route.spec, "hostnames", None) or ()]
        return attach_route(
            route,
            kind,
            hostnames,
            self.states,
            self.namespace_labels,
            self.controller_name,
            self.listener_sets,
            touched,
        )

    def translate_http(
        self, route: Any, kind: str, translate: Callable[[Any, Backends], TranslatedRoute]
    ) -> RouteEntry:
        touched: list[GatewayListener] = []
        parents = self.attach(route, kind, touched)
        if not parents:
            return RouteEntry((), (), None, None)
        self.backends.trace = []
        try:
            result = translate(route, self.backends)
            calls = tuple(self.backends.trace)
        finally:
            self.backends.trace = None
        _finish_parents(parents, result.ref_problems, result.rule_problems, bool(result.rules))
        once = {id(listener): listener for listener in touched}.values()
        attachments = tuple(
            (*self.positions[id(listener)], listener.attachments[id(route)].hostnames)
            for listener in once
        )
        status = RouteStatus(route.metadata.generation, parents)
        return RouteEntry(attachments, calls, status, result)

    def replay(self, entry: RouteEntry, route: Any) -> None:
        for key, index, hostnames in entry.attachments:
            record_attachment(self.states[key].listeners[index], route, hostnames)
        for call in entry.backend_calls:
            self.backends.resolve(*call)


def _object_id(kind: str, route: Any) -> ObjectId:
    return ObjectId(GATEWAY_GROUP, kind, route.metadata.namespace, route.metadata.name)


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
