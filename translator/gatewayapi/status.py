"""Status accumulators: stage 1 writes conditions here, then renders Kubernetes-shaped dicts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

from translator.gatewayapi.conditions import Condition, ConditionType, Reason
from translator.memo import IdentityMemo

GATEWAY_GROUP = "gateway.networking.k8s.io"


class ObjectId(NamedTuple):
    group: str
    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.kind}/{where}"


class Conditions:
    """Conditions by type; setting a type again replaces it (the last word wins), except that
    ``worsen`` keeps the first failure so the earliest, most specific reason survives."""

    def __init__(self) -> None:
        self._by_type: dict[ConditionType, Condition] = {}

    def set(self, type_: ConditionType, ok: bool, reason: Reason, message: str) -> None:
        self._by_type[type_] = Condition(type_, ok, reason, message)

    def worsen(self, type_: ConditionType, reason: Reason, message: str) -> None:
        current = self._by_type.get(type_)
        if current is None or current.status:
            self._by_type[type_] = Condition(type_, False, reason, message)

    def get(self, type_: ConditionType) -> Condition | None:
        return self._by_type.get(type_)

    def is_true(self, type_: ConditionType) -> bool:
        condition = self._by_type.get(type_)
        return condition is not None and condition.status

    def render(self, generation: int) -> list[dict[str, object]]:
        return [c.to_dict(generation) for c in self._by_type.values()]


@dataclass
class ListenerStatus:
    name: str
    supported_kinds: list[tuple[str, str]] = field(default_factory=list)
    attached_routes: int = 0
    conditions: Conditions = field(default_factory=Conditions)
    # ListenerSet listener entries report their port; Gateway listeners do not.
    port: int | None = None

    def render(self, generation: int) -> dict[str, Any]:
        port = {} if self.port is None else {"port": self.port}
        return {
            "name": self.name,
            **port,
            "supportedKinds": [{"group": g, "kind": k} for g, k in self.supported_kinds],
            "attachedRoutes": self.attached_routes,
            "conditions": self.conditions.render(generation),
        }


@dataclass
class GatewayStatus:
    generation: int
    conditions: Conditions = field(default_factory=Conditions)
    listeners: list[ListenerStatus] = field(default_factory=list)
    addresses: list[dict[str, str]] = field(default_factory=list)
    # Accepted ListenerSets; reported only when the Gateway allows ListenerSets at all.
    attached_listener_sets: int | None = None

    def render(self) -> dict[str, Any]:
        rendered = {
            "addresses": self.addresses,
            "conditions": self.conditions.render(self.generation),
            "listeners": [listener.render(self.generation) for listener in self.listeners],
        }
        if self.attached_listener_sets is not None:
            rendered["attachedListenerSets"] = self.attached_listener_sets
        return rendered


@dataclass
class ListenerSetStatus:
    generation: int
    conditions: Conditions = field(default_factory=Conditions)
    listeners: list[ListenerStatus] = field(default_factory=list)

    def render(self) -> dict[str, Any]:
        return {
            "conditions": self.conditions.render(self.generation),
            "listeners": [listener.render(self.generation) for listener in self.listeners],
        }


@dataclass
class RouteParentStatus:
    parent_ref: dict[str, Any]
    controller_name: str
    conditions: Conditions = field(default_factory=Conditions)

    def render(self, generation: int) -> dict[str, Any]:
        return {
            "parentRef": self.parent_ref,
            "controllerName": self.controller_name,
            "conditions": self.conditions.render(generation),
        }


@dataclass
class RouteStatus:
    generation: int
    parents: list[RouteParentStatus] = field(default_factory=list)

    def render(self) -> dict[str, Any]:
        return {"parents": [parent.render(self.generation) for parent in self.parents]}


@dataclass
class SimpleStatus:
    """Objects whose status is a bare condition list (GatewayClass)."""

    generation: int
    conditions: Conditions = field(default_factory=Conditions)

    def render(self) -> dict[str, Any]:
        return {"conditions": self.conditions.render(self.generation)}


@dataclass
class PolicyStatus:
    """A policy's status: one ancestor entry per Gateway it takes effect for."""

    generation: int
    conditions: Conditions
    gateways: list[tuple[str, str]]
    controller_name: str

    def render(self) -> dict[str, Any]:
        return {
            "ancestors": [
                {
                    "ancestorRef": {
                        "group": GATEWAY_GROUP,
                        "kind": "Gateway",
                        "namespace": ns,
                        "name": name,
                    },
                    "controllerName": self.controller_name,
                    "conditions": self.conditions.render(self.generation),
                }
                for ns, name in self.gateways
            ]
        }


StatusBuilder = PolicyStatus | GatewayStatus | ListenerSetStatus | RouteStatus | SimpleStatus


def render_statuses(
    builders: dict[ObjectId, StatusBuilder],
    rendered: IdentityMemo[dict[str, Any]] | None = None,
) -> dict[ObjectId, dict[str, Any]]:
    """``rendered`` remembers the statuses of builders that later runs reuse unchanged
    (translator.incremental); callers must not mutate what this returns."""
    if rendered is None:
        return {key: builders[key].render() for key in sorted(builders)}
    statuses: dict[ObjectId, dict[str, Any]] = {}
    for key in sorted(builders):
        builder = builders[key]
        status = rendered.get(builder)
        if status is None:
            status = builder.render()
            rendered.put(builder, status)
        statuses[key] = status
    return statuses
