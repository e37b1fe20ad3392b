"""ListenerSets (GEP-1713): listeners that other teams add to a Gateway that allows them.

A Gateway takes ListenerSets only as far as ``spec.allowedListeners`` says (None by default,
Same, All or a namespace Selector). Accepted sets are merged after the Gateway's own listeners,
oldest set first (then namespace/name), and the conflict rules run over the merged list, so a
Gateway listener always wins over a ListenerSet's and an older set over a newer one. Routes
reach a set's listeners only through a parentRef to the ListenerSet itself."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from translator.gatewayapi.conditions import ConditionType, Reason
from translator.gatewayapi.gateway import GatewayState
from translator.gatewayapi.listener import GatewayListener, mark_conflicts, translate_listener
from translator.gatewayapi.owner import ListenerOwner
from translator.gatewayapi.parentref import NAMESPACE_NAME_LABEL
from translator.gatewayapi.referencegrant import ReferenceGrants
from translator.gatewayapi.selector import selector_matches
from translator.gatewayapi.status import GATEWAY_GROUP, ListenerSetStatus, ObjectId, StatusBuilder
from translator.model import ListenerSet
from translator.resources import ResourceSet


@dataclass
class AttachedListenerSet:
    listener_set: ListenerSet
    state: GatewayState
    status: ListenerSetStatus
    listeners: list[GatewayListener] = field(default_factory=list)


def attach_listener_sets(
    resources: ResourceSet,
    grants: ReferenceGrants,
    states: Mapping[tuple[str, str], GatewayState],
    namespace_labels: Mapping[str, Mapping[str, str]],
    builders: dict[ObjectId, StatusBuilder],
) -> dict[tuple[str, str], AttachedListenerSet]:
    """Merge allowed ListenerSets into their Gateways; returns the sets by namespace/name."""
    attached: dict[tuple[str, str], AttachedListenerSet] = {}
    for listener_set in sorted(resources.listener_sets, key=_age):
        meta = listener_set.metadata
        parent = listener_set.spec.parent_ref
        state = states.get((parent.namespace or meta.namespace, parent.name))
        if state is None:
            continue  # not one of our Gateways: not ours to report on
        status = ListenerSetStatus(meta.generation)
        builders[ObjectId(GATEWAY_GROUP, "ListenerSet", meta.namespace, meta.name)] = status
        entry = AttachedListenerSet(listener_set, state, status)
        if not _allowed(state, meta.namespace, namespace_labels):
            _reject(
                status,
                Reason.NOT_ALLOWED,
                "the parent Gateway's allowedListeners does not allow this ListenerSet",
            )
            continue
        if not state.status.conditions.is_true(ConditionType.ACCEPTED):
            _reject(status, Reason.PARENT_NOT_ACCEPTED, "the parent Gateway is not accepted")
            continue
        owner = ListenerOwner("ListenerSet", meta.namespace, meta.name)
        for spec in listener_set.spec.listeners:
            listener = translate_listener(resources, grants, state.gateway, owner, spec)
            listener.status.port = listener.port
            entry.listeners.append(listener)
        state.listeners.extend(entry.listeners)
        attached[(meta.namespace, meta.name)] = entry
    for state in {id(e.state): e.state for e in attached.values()}.values():
        mark_conflicts(state.listeners)
    for entry in attached.values():
        _finish(entry)
    for state in states.values():
        if state.gateway.spec.allowed_listeners is not None:
            state.status.attached_listener_sets = sum(
                1
                for e in attached.values()
                if e.state is state and e.status.conditions.is_true(ConditionType.ACCEPTED)
            )
    return attached


def _finish(entry: AttachedListenerSet) -> None:
    entry.status.listeners = [listener.status for listener in entry.listeners]
    invalid = [listener.name for listener in entry.listeners if not listener.accepts_routes]
    conditions = entry.status.conditions
    if len(invalid) == len(entry.listeners):
        _reject(
            entry.status, Reason.LISTENERS_NOT_VALID, f"no valid listener: {', '.join(invalid)}"
        )
        return
    reason = Reason.LISTENERS_NOT_VALID if invalid else Reason.ACCEPTED
    message = f"invalid listeners: {', '.join(invalid)}" if invalid else "ListenerSet is accepted"
    conditions.set(ConditionType.ACCEPTED, True, reason, message)
    if any(listener.programmable for listener in entry.listeners):
        conditions.set(
            ConditionType.PROGRAMMED, True, Reason.PROGRAMMED, "ListenerSet is programmed"
        )
    else:
        conditions.set(ConditionType.PROGRAMMED, False, Reason.INVALID, "no listener is programmed")


def _reject(status: ListenerSetStatus, reason: Reason, message: str) -> None:
    status.conditions.set(ConditionType.ACCEPTED, False, reason, message)
    status.conditions.set(ConditionType.PROGRAMMED, False, Reason.INVALID, message)


def _allowed(
    state: GatewayState, namespace: str, namespace_labels: Mapping[str, Mapping[str, str]]
) -> bool:
    allowed = state.gateway.spec.allowed_listeners
    source = str(allowed.namespaces.from_) if allowed is not None else "None"
    if source == "All":
        return True
    if source == "Same":
        return namespace == state.gateway.metadata.namespace
    if source == "Selector" and allowed is not None and allowed.namespaces.selector is not None:
        labels = namespace_labels.get(namespace, {NAMESPACE_NAME_LABEL: namespace})
        return selector_matches(allowed.namespaces.selector, labels)
    return False


def _age(listener_set: ListenerSet) -> tuple[str, str, str]:
    meta = listener_set.metadata
    return (meta.creation_timestamp or "", meta.namespace, meta.name)
