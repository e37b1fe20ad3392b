"""Every route kind: attach to listeners, translate rules, and record route statuses.

HTTPRoutes and GRPCRoutes become HTTP rule templates. They depend on nothing but themselves
and the context (every object that is not an HTTP or gRPC route, translator.incremental), so
what translating one did is kept as a ``RouteEntry``: with the same context it can be done
again without the work (``replay``: its attachments recorded on the same listeners, its
backend lookups made again, its status and rules reused as they were) and undone when the
route goes away (``detach``); translator.gatewayapi.attached keeps the attached routes in
step with the ResourceSet that way. TLSRoutes, TCPRoutes and UDPRoutes become L4 backends,
taken oldest first, so that when a TCP or UDP listener can carry only one of them the oldest
keeps it."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from translator.gatewayapi.backend import BackendEffect, Backends
from translator.gatewayapi.conditions import ConditionType, Reason
from translator.gatewayapi.gateway import GatewayState
from translator.gatewayapi.grpcroute import translate_grpc_route
from translator.gatewayapi.hosttable import KeyedRoute
from translator.gatewayapi.httproute import (
    TranslatedRoute,
    routes_for_listener,
    translate_http_route,
)
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
from translator.resources import ResourceSet

# How each HTTP route kind's rules are translated.
HTTP_KINDS: dict[str, Callable[[Any, Backends], TranslatedRoute]] = {
    "HTTPRoute": translate_http_route,
    "GRPCRoute": translate_grpc_route,
}


@dataclass(slots=True)
class RouteEntry:
    """What translating one HTTPRoute or GRPCRoute did, to do again without the work. Only
    the caches at the end are ever filled in later."""

    # (gateway key, index in the gateway's listeners, hostnames served there).
    attachments: tuple[tuple[tuple[str, str], int, tuple[str, ...]], ...]
    backend_effects: tuple[BackendEffect, ...]
    status: RouteStatus | None
    result: TranslatedRoute | None
    # IR routes with their precedence keys, per (port, scheme) of a listener, once asked for.
    ir_routes: dict[tuple[int, str], list[KeyedRoute]] = field(default_factory=dict)
    rendered: dict[str, Any] | None = None

    def routes_for(self, port: int, scheme: str) -> list[KeyedRoute]:
        found = self.ir_routes.get((port, scheme))
        if found is None:
            assert self.result is not None, "only an attached route has IR routes"
            found = self.ir_routes[(port, scheme)] = routes_for_listener(self.result, port, scheme)
        return found

    def rendered_status(self) -> dict[str, Any]:
        """The status as Kubernetes shows it (rendered once: a route's status never changes
        after its translation)."""
        assert self.status is not None, "only a route of ours has a status"
        if self.rendered is None:
            self.rendered = self.status.render()
        return self.rendered


def translate_l4_routes(
    resources: ResourceSet, context: RouteContext, builders: dict[ObjectId, StatusBuilder]
) -> dict[int, TranslatedL4Route]:
    """TLS, TCP and UDP routes, by id() of the route; their statuses go into ``builders``."""
    translated: dict[int, TranslatedL4Route] = {}
    for kind, routes in (
        ("TLSRoute", resources.tls_routes),
        ("TCPRoute", resources.tcp_routes),
        ("UDPRoute", resources.udp_routes),
    ):
        for route in sorted(routes, key=_age):
            parents = context.attach(route, kind)
            if not parents:
                continue
            result = translate_l4_route(route, kind, context.backends)
            translated[id(route)] = result
            _finish_parents(parents, result.ref_problems, result.rule_problems, True)
            builders[object_id(kind, route)] = RouteStatus(route.metadata.generation, parents)
    return translated


@dataclass
class RouteContext:
    """The listeners routes attach to and the backends they resolve, for one context."""

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

    def translate_http(self, route: Any, kind: str) -> RouteEntry:
        touched: list[GatewayListener] = []
        parents = self.attach(route, kind, touched)
        if not parents:
            return RouteEntry((), (), None, None)
        self.backends.trace = []
        try:
            result = HTTP_KINDS[kind](route, self.backends)
            effects = tuple(self.backends.trace)
        finally:
            self.backends.trace = None
        _finish_parents(parents, result.ref_problems, result.rule_problems, bool(result.rules))
        once = {id(listener): listener for listener in touched}.values()
        attachments = tuple(
            (*self.positions[id(listener)], listener.attachments[id(route)].hostnames)
            for listener in once
        )
        status = RouteStatus(route.metadata.generation, parents)
        return RouteEntry(attachments, effects, status, result)

    def replay(self, entry: RouteEntry, route: Any) -> None:
        for key, index, hostnames in entry.attachments:
            record_attachment(self.states[key].listeners[index], route, hostnames)
        self.backends.replay(entry.backend_effects)

    def detach(self, entry: RouteEntry, route: Any) -> None:
        """Undo ``entry``'s attachments (the clusters its backends made stay: only the ones
        some route uses are ever emitted)."""
        for key, index, _ in entry.attachments:
            listener = self.states[key].listeners[index]
            if listener.attachments.pop(id(route), None) is not None:
                listener.status.attached_routes -= 1


def object_id(kind: str, route: Any) -> ObjectId:
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
