"""Route attachment: parentRefs, sectionName and port, allowedRoutes, hostname intersection.

The same rules hold for every route kind; the caller says which kind it is and which
hostnames the route declares (empty for kinds without hostnames)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from translator.gatewayapi.conditions import ConditionType, Reason
from translator.gatewayapi.gateway import GatewayState
from translator.gatewayapi.hostname import intersections
from translator.gatewayapi.listener import Attachment, GatewayListener
from translator.gatewayapi.selector import selector_matches
from translator.gatewayapi.status import GATEWAY_GROUP, RouteParentStatus
from translator.model import ListenerSet

NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"


def attach_route(
    route: Any,
    kind: str,
    hostnames: Sequence[str],
    gateways: Mapping[tuple[str, str], GatewayState],
    namespace_labels: Mapping[str, Mapping[str, str]],
    controller_name: str,
    listener_sets: Mapping[tuple[str, str], Sequence[GatewayListener]] | None = None,
    touched: list[GatewayListener] | None = None,
) -> list[RouteParentStatus]:
    """Attach ``route`` to the listeners its parentRefs select; one status per parentRef that
    names a Gateway (or an attached ListenerSet) of ours. Attachments are recorded on the
    listeners, and each listener that got one is appended to ``touched``. A parentRef to a
    Gateway reaches only the Gateway's own listeners."""
    parents: list[RouteParentStatus] = []
    route_ns = route.metadata.namespace
    for ref in route.spec.parent_refs or ():
        group = ref.group if ref.group is not None else GATEWAY_GROUP
        key = (ref.namespace or route_ns, ref.name)
        pool: Sequence[GatewayListener]
        if (group, ref.kind or "Gateway") == (GATEWAY_GROUP, "Gateway"):
            state = gateways.get(key)
            if state is None:
                continue
            pool = [listener for listener in state.listeners if listener.owner.is_gateway]
        elif (
            (group, ref.kind) in ListenerSet.GROUP_KINDS and listener_sets and key in listener_sets
        ):
            pool = listener_sets[key]
        else:
            continue
        parent = RouteParentStatus(_explicit_parent_ref(ref, route_ns), controller_name)
        _attach_to_listeners(route, kind, hostnames, ref, pool, namespace_labels, parent, touched)
        parents.append(parent)
    return parents


def _explicit_parent_ref(ref: Any, route_ns: str) -> dict[str, Any]:
    explicit: dict[str, Any] = {"group": ref.group if ref.group is not None else GATEWAY_GROUP}
    explicit["kind"] = ref.kind or "Gateway"
    if ref.namespace is not None and ref.namespace != "":
        explicit["namespace"] = ref.namespace
    explicit["name"] = ref.name
    if ref.section_name is not None:
        explicit["sectionName"] = ref.section_name
    if ref.port is not None:
        explicit["port"] = ref.port
    return explicit


def _attach_to_listeners(
    route: Any,
    kind: str,
    hostnames: Sequence[str],
    ref: Any,
    pool: Sequence[GatewayListener],
    namespace_labels: Mapping[str, Mapping[str, str]],
    parent: RouteParentStatus,
    touched: list[GatewayListener] | None,
) -> None:
    conditions = parent.conditions
    candidates = [
        listener
        for listener in pool
        if (ref.section_name is None or listener.name == ref.section_name)
        and (ref.port is None or listener.port == ref.port)
    ]
    if not candidates:
        conditions.set(
            ConditionType.ACCEPTED,
            False,
            Reason.NO_MATCHING_PARENT,
            "no listener matches the parentRef's sectionName and port",
        )
        return
    route_ns = route.metadata.namespace
    allowed = [
        listener
        for listener in candidates
        if listener.accepts_routes
        and kind in listener.kinds
        and _namespace_allowed(listener, route_ns, namespace_labels)
    ]
    taken = [
        listener
        for listener in allowed
        if listener.exclusive and listener.attachments and id(route) not in listener.attachments
    ]
    if taken and len(taken) == len(allowed):
        others = ", ".join(
            f"{a.route.metadata.namespace}/{a.route.metadata.name}"
            for listener in taken
            for a in listener.attachments.values()
        )
        conditions.set(
            ConditionType.ACCEPTED,
            False,
            Reason.NOT_ALLOWED_BY_LISTENERS,
            f"a {taken[0].protocol} listener carries one route and already serves {others}",
        )
        return
    allowed = [listener for listener in allowed if listener not in taken]
    if not allowed:
        conditions.set(
            ConditionType.ACCEPTED,
            False,
            Reason.NOT_ALLOWED_BY_LISTENERS,
            f"no listener selected by the parentRef allows a {kind} from namespace {route_ns}",
        )
        return
    matched = [(listener, intersections(listener.hostname, hostnames)) for listener in allowed]
    matched = [(listener, common) for listener, common in matched if common]
    if not matched:
        conditions.set(
            ConditionType.ACCEPTED,
            False,
            Reason.NO_MATCHING_LISTENER_HOSTNAME,
            "no listener hostname intersects the route's hostnames",
        )
        return
    for listener, common in matched:
        record_attachment(listener, route, common)
        if touched is not None:
            touched.append(listener)
    conditions.set(ConditionType.ACCEPTED, True, Reason.ACCEPTED, "Route is accepted")


def record_attachment(listener: GatewayListener, route: Any, hostnames: Sequence[str]) -> None:
    attachment = listener.attachments.get(id(route))
    if attachment is not None:
        extra = tuple(h for h in hostnames if h not in attachment.hostnames)
        attachment.hostnames += extra
        return
    listener.attachments[id(route)] = Attachment(route=route, hostnames=tuple(hostnames))
    listener.status.attached_routes += 1


def _namespace_allowed(
    listener: GatewayListener, route_ns: str, namespace_labels: Mapping[str, Mapping[str, str]]
) -> bool:
    namespaces = listener.allowed_routes.namespaces if listener.allowed_routes else None
    source = str(namespaces.from_) if namespaces is not None and namespaces.from_ else "Same"
    if source == "All":
        return True
    if source == "Same":
        return route_ns == listener.owner.namespace
    if source == "Selector":
        selector = namespaces.selector if namespaces is not None else None
        if selector is None:
            return False
        labels = namespace_labels.get(route_ns, {NAMESPACE_NAME_LABEL: route_ns})
        return selector_matches(selector, labels)
    return False
