"""Resolve AgentgatewayPolicy targets to attachment points.

An attachment point is a hashable key naming a Gateway, a listener, a ListenerSet, a route,
a route rule, a Service or a Service port; the level orders them from least to most specific.
Targets that do not exist, or whose sectionName names nothing, become problems reported in
the policy's status; targets that belong to another controller's Gateways are skipped.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from translator.gatewayapi.conditions import Reason
from translator.gatewayapi.gateway import GatewayState
from translator.gatewayapi.owner import ListenerOwner
from translator.ir.policy import AuthorizationRule
from translator.model import Gateway, GRPCRoute, HTTPRoute, ListenerSet, Service
from translator.model.agentgateway_policy import AgentgatewayPolicy, PolicyTargetReference
from translator.resources import ResourceSet

GatewayKey = tuple[str, str]
AttachKey = tuple[Any, ...]
SECTIONS = ("traffic", "backend", "frontend")
_ROUTE_KINDS = {"HTTPRoute": HTTPRoute, "GRPCRoute": GRPCRoute}


class Level(IntEnum):
    GATEWAY = 0
    LISTENER_SET = 1
    LISTENER = 2
    ROUTE = 3
    RULE = 4
    SERVICE = 5
    SERVICE_PORT = 6


def gateway_key(ns: str, name: str) -> AttachKey:
    return (Level.GATEWAY, ns, name)


def listener_set_key(ns: str, name: str) -> AttachKey:
    return (Level.LISTENER_SET, ns, name)


def listener_key(gateway: GatewayKey, section: str) -> AttachKey:
    return (Level.LISTENER, *gateway, section)


def route_key(kind: str, ns: str, name: str) -> AttachKey:
    return (Level.ROUTE, kind, ns, name)


def rule_key(kind: str, ns: str, name: str, rule: int) -> AttachKey:
    return (Level.RULE, kind, ns, name, rule)


def service_key(ns: str, name: str) -> AttachKey:
    return (Level.SERVICE, ns, name)


def service_port_key(ns: str, name: str, port: int) -> AttachKey:
    return (Level.SERVICE_PORT, ns, name, port)


@dataclass
class PreparedPolicy:
    """A policy with its settings as canonical JSON per ``section.field`` path."""

    policy: AgentgatewayPolicy
    origin: str
    age: tuple[str, str, str]
    override: bool
    # "traffic" -> {"timeouts": '{"request":"5s"}'}; authorization is kept apart.
    settings: dict[str, dict[str, str]]
    authorization: AuthorizationRule | None
    # Attachment points, and the Gateways each reaches (Services: filled in from the IR).
    attachments: list[AttachKey] = field(default_factory=list)
    gateways: set[GatewayKey] = field(default_factory=set)
    # (ancestorRef, reason, message) for targets that resolve to nothing.
    problems: list[tuple[dict[str, Any], Reason, str]] = field(default_factory=list)
    # "section.field" -> why it was dropped (CEL that does not compile, see cel_check; an
    # extAuth service that cannot be used, see extauth_policy).
    invalid: dict[str, list[str]] = field(default_factory=dict)
    # Fields in effect that do less than asked where they apply (a reference that does not
    # resolve, routes that disagree on a shared cluster); said in the status.
    notes: list[str] = field(default_factory=list)
    # Notes that hold on the Gateways Envoy serves only.
    envoy_notes: list[str] = field(default_factory=list)

    @property
    def paths(self) -> list[str]:
        paths = [f"{section}.{name}" for section, found in self.settings.items() for name in found]
        if self.authorization is not None:
            paths.append("traffic.authorization")
        return sorted(paths)


def prepare(policy: AgentgatewayPolicy) -> PreparedPolicy:
    meta = policy.metadata
    spec = policy.spec
    settings: dict[str, dict[str, str]] = {}
    authorization = None
    for section in SECTIONS:
        value = getattr(spec, section)
        if value is None:
            continue
        data = value.model_dump(mode="json", by_alias=True, exclude_none=True)
        auth = data.pop("authorization", None)
        if auth is not None:
            origin = f"AgentgatewayPolicy/{meta.namespace}/{meta.name}"
            expressions = tuple(auth["policy"]["matchExpressions"])
            authorization = AuthorizationRule(auth["action"], expressions, origin)
        settings[section] = {
            name: json.dumps(found, sort_keys=True, separators=(",", ":"))
            for name, found in sorted(data.items())
            if found not in ({}, [])
        }
    return PreparedPolicy(
        policy,
        f"AgentgatewayPolicy/{meta.namespace}/{meta.name}",
        (meta.creation_timestamp or "", meta.namespace, meta.name),
        spec.overrides,
        settings,
        authorization,
    )


def resolve_targets(
    prepared: PreparedPolicy,
    resources: ResourceSet,
    states: Mapping[GatewayKey, GatewayState],
) -> None:
    """Fill ``attachments``, ``gateways`` and ``problems`` of ``prepared``."""
    ns = prepared.policy.metadata.namespace
    for target in _expand(prepared.policy, resources):
        ancestor = _target_ref(target, ns)
        kind = target.kind
        if kind == "Gateway":
            _gateway(prepared, resources, states, target, ancestor)
        elif kind in ("ListenerSet", "XListenerSet"):
            _listener_set(prepared, resources, states, target, ancestor)
        elif kind in _ROUTE_KINDS:
            _route(prepared, resources, states, target, ancestor)
        else:
            _service(prepared, resources, target, ancestor)


def _expand(policy: AgentgatewayPolicy, resources: ResourceSet) -> Iterable[PolicyTargetReference]:
    spec = policy.spec
    yield from spec.target_refs
    ns = policy.metadata.namespace
    candidates: dict[str, Iterable[Any]] = {
        "Gateway": resources.gateways,
        "ListenerSet": resources.listener_sets,
        "XListenerSet": resources.listener_sets,
        "HTTPRoute": resources.http_routes,
        "GRPCRoute": resources.grpc_routes,
        "Service": resources.services,
    }
    for selector in spec.target_selectors:
        for found in candidates.get(selector.kind, ()):
            meta = found.metadata
            labels = meta.labels
            if meta.namespace == ns and all(
                labels.get(k) == v for k, v in selector.match_labels.items()
            ):
                yield PolicyTargetReference(
                    group=selector.group,
                    kind=selector.kind,
                    name=meta.name,
                    section_name=selector.section_name,
                )


def _target_ref(target: PolicyTargetReference, ns: str) -> dict[str, Any]:
    ref = {"group": target.group, "kind": target.kind, "name": target.name, "namespace": ns}
    if target.section_name:
        ref["sectionName"] = target.section_name
    return ref


def _not_found(prepared: PreparedPolicy, ancestor: dict[str, Any], what: str) -> None:
    prepared.problems.append((ancestor, Reason.TARGET_NOT_FOUND, f"{what} does not exist"))


def _no_section(
    prepared: PreparedPolicy, ancestor: dict[str, Any], what: str, section: str, has: str
) -> None:
    message = f"{what} has no {has} named {section!r}"
    prepared.problems.append((ancestor, Reason.SECTION_NOT_FOUND, message))


def _attach(prepared: PreparedPolicy, key: AttachKey, gateways: Iterable[GatewayKey]) -> None:
    if key not in prepared.attachments:
        prepared.attachments.append(key)
    prepared.gateways.update(gateways)


def _gateway(
    prepared: PreparedPolicy,
    resources: ResourceSet,
    states: Mapping[GatewayKey, GatewayState],
    target: PolicyTargetReference,
    ancestor: dict[str, Any],
) -> None:
    ns, name = prepared.policy.metadata.namespace, target.name
    state = states.get((ns, name))
    if state is None:
        if resources.get(Gateway, ns, name) is None:
            _not_found(prepared, ancestor, f"Gateway {ns}/{name}")
        return  # another controller's Gateway
    section = target.section_name
    if section is None:
        _attach(prepared, gateway_key(ns, name), [(ns, name)])
        return
    owned = [lst for lst in state.listeners if lst.owner.is_gateway and lst.name == section]
    if not owned:
        _no_section(prepared, _gateway_ref(ns, name), f"Gateway {ns}/{name}", section, "listener")
        return
    _attach(prepared, listener_key((ns, name), owned[0].section), [(ns, name)])


def _listener_set(
    prepared: PreparedPolicy,
    resources: ResourceSet,
    states: Mapping[GatewayKey, GatewayState],
    target: PolicyTargetReference,
    ancestor: dict[str, Any],
) -> None:
    ns, name = prepared.policy.metadata.namespace, target.name
    if resources.get(ListenerSet, ns, name) is None:
        _not_found(prepared, ancestor, f"ListenerSet {ns}/{name}")
        return
    owner = ListenerOwner("ListenerSet", ns, name)
    for key, state in states.items():
        listeners = [lst for lst in state.listeners if lst.owner == owner]
        if not listeners:
            continue
        section = target.section_name
        if section is None:
            _attach(prepared, listener_set_key(ns, name), [key])
            continue
        named = [lst for lst in listeners if lst.name == section]
        if named:
            _attach(prepared, listener_key(key, named[0].section), [key])
        else:
            what = f"ListenerSet {ns}/{name}"
            _no_section(prepared, _gateway_ref(*key), what, section, "listener")


def _route(
    prepared: PreparedPolicy,
    resources: ResourceSet,
    states: Mapping[GatewayKey, GatewayState],
    target: PolicyTargetReference,
    ancestor: dict[str, Any],
) -> None:
    ns, name, kind = prepared.policy.metadata.namespace, target.name, target.kind
    route: Any = resources.get(_ROUTE_KINDS[kind], ns, name)
    if route is None:
        _not_found(prepared, ancestor, f"{kind} {ns}/{name}")
        return
    gateways = [
        key
        for key, state in states.items()
        if any(id(route) in lst.attachments for lst in state.listeners)
    ]
    section = target.section_name
    if section is None:
        if gateways:
            _attach(prepared, route_key(kind, ns, name), gateways)
        return
    index = next((i for i, rule in enumerate(route.spec.rules) if rule.name == section), None)
    if index is None:
        for key in gateways:
            _no_section(prepared, _gateway_ref(*key), f"{kind} {ns}/{name}", section, "rule")
        return
    if gateways:
        _attach(prepared, rule_key(kind, ns, name, index), gateways)


def _service(
    prepared: PreparedPolicy,
    resources: ResourceSet,
    target: PolicyTargetReference,
    ancestor: dict[str, Any],
) -> None:
    ns, name = prepared.policy.metadata.namespace, target.name
    service = resources.get(Service, ns, name)
    if service is None:
        _not_found(prepared, ancestor, f"Service {ns}/{name}")
        return
    section = target.section_name
    if section is None:
        _attach(prepared, service_key(ns, name), ())
        return
    port = next(
        (p for p in service.spec.ports if section in (p.name, str(p.port))),
        None,
    )
    if port is None:
        _no_section(prepared, ancestor, f"Service {ns}/{name}", section, "port")
        return
    _attach(prepared, service_port_key(ns, name, port.port), ())


def _gateway_ref(ns: str, name: str) -> dict[str, Any]:
    return {"group": "gateway.networking.k8s.io", "kind": "Gateway", "namespace": ns, "name": name}


def index_attachments(
    policies: Iterable[PreparedPolicy],
) -> dict[AttachKey, list[PreparedPolicy]]:
    index: dict[AttachKey, list[PreparedPolicy]] = defaultdict(list)
    for prepared in policies:
        for key in prepared.attachments:
            index[key].append(prepared)
    return index
