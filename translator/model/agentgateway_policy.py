"""AgentgatewayPolicy (agentgateway.dev/v1alpha1): traffic, backend and frontend settings
attached to Gateways, listeners, ListenerSets, routes, route rules and Services.

A policy names its targets (``targetRefs``) or selects them by label (``targetSelectors``),
all of one kind. The admission rules, written into the CRD as CEL and checked here alike:
``frontend`` only on a whole Gateway; ``traffic`` on anything but a Service; ``backend``
anywhere. ``strategy.inheritance: Override`` makes the fields a policy sets win over more
specific policies instead of yielding to them.
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from pydantic import Field, JsonValue, model_validator

from translator.model.agentgateway import AGENTGATEWAY_GROUP
from translator.model.agentgateway_connection import Backend, Frontend
from translator.model.agentgateway_traffic import PolicyModel, Traffic
from translator.model.listenerset import EXPERIMENTAL_GROUP
from translator.model.meta import Resource, violation
from translator.model.shared import (
    GATEWAY_GROUP,
    Group,
    Kind,
    LabelKey,
    LabelValue,
    ObjectName,
    SectionName,
)

# (group, kind) a policy may target.
TARGET_KINDS: frozenset[tuple[str, str]] = frozenset(
    {
        (GATEWAY_GROUP, "Gateway"),
        (GATEWAY_GROUP, "ListenerSet"),
        (EXPERIMENTAL_GROUP, "ListenerSet"),
        (EXPERIMENTAL_GROUP, "XListenerSet"),
        (GATEWAY_GROUP, "HTTPRoute"),
        (GATEWAY_GROUP, "GRPCRoute"),
        ("", "Service"),
    }
)
_TARGET_KIND_RULE = (
    "self.all(t, (t.group == '' && t.kind == 'Service')"
    f" || (t.group == '{GATEWAY_GROUP}'"
    " && t.kind in ['Gateway', 'ListenerSet', 'HTTPRoute', 'GRPCRoute'])"
    f" || (t.group == '{EXPERIMENTAL_GROUP}' && t.kind in ['ListenerSet', 'XListenerSet']))"
)
_TARGET_LIST_RULES: list[JsonValue] = [
    {
        "rule": _TARGET_KIND_RULE,
        "message": "targets may only be Gateways, ListenerSets, HTTPRoutes, GRPCRoutes or Services",
    },
    {
        "rule": "self.all(a, self.all(b, a.kind == b.kind))",
        "message": "all targets of one policy must be of one kind",
    },
]


def _every_target(condition: str) -> str:
    return (
        f"(!has(self.targetRefs) || self.targetRefs.all(t, {condition}))"
        f" && (!has(self.targetSelectors) || self.targetSelectors.all(t, {condition}))"
    )


class PolicyTargetReference(PolicyModel):
    group: Group
    """The target's API group ("" for a Service)."""
    kind: Kind
    """Gateway, ListenerSet, HTTPRoute, GRPCRoute or Service."""
    name: ObjectName
    """The target, in the policy's namespace."""
    section_name: SectionName | None = None
    """A Gateway's or ListenerSet's listener, a route's rule (by name), or a Service's port
    (by name)."""


class PolicyTargetSelector(PolicyModel):
    group: Group
    """The API group of the selected objects."""
    kind: Kind
    """The kind of the selected objects."""
    match_labels: dict[LabelKey, LabelValue] = Field(min_length=1)
    """Objects of that kind in the policy's namespace carrying all these labels."""
    section_name: SectionName | None = None
    """As in targetRefs."""


class Inheritance(StrEnum):
    DEFAULT = "Default"
    OVERRIDE = "Override"


class Strategy(PolicyModel):
    inheritance: Inheritance = Inheritance.DEFAULT
    """Default: more specific policies win a field. Override: the fields this policy sets
    win over those of more specific policies."""


class AgentgatewayPolicySpec(PolicyModel):
    EXACTLY_ONE = (("targetRefs", "targetSelectors"),)
    CEL_RULES = (
        (
            "has(self.traffic) || has(self.frontend) || has(self.backend)",
            "set at least one of traffic, frontend, backend",
        ),
        (
            "!has(self.frontend) || ("
            + _every_target("t.kind == 'Gateway' && !has(t.sectionName)")
            + ")",
            "frontend may only target a whole Gateway (no sectionName)",
        ),
        (
            "!has(self.traffic) || (" + _every_target("t.kind != 'Service'") + ")",
            "traffic may not target a Service",
        ),
    )

    target_refs: tuple[PolicyTargetReference, ...] = Field(
        default=(),
        max_length=16,
        json_schema_extra={"x-kubernetes-validations": _TARGET_LIST_RULES},
    )
    """The objects the policy applies to."""
    target_selectors: tuple[PolicyTargetSelector, ...] = Field(
        default=(),
        max_length=16,
        json_schema_extra={"x-kubernetes-validations": _TARGET_LIST_RULES},
    )
    """Label selectors choosing the objects the policy applies to."""
    strategy: Strategy | None = None
    """How this policy's fields combine with those of more specific policies."""
    traffic: Traffic | None = None
    """Settings for requests through routes."""
    backend: Backend | None = None
    """Settings for connections to backends."""
    frontend: Frontend | None = None
    """Settings for client connections to a Gateway."""

    @property
    def targets(self) -> tuple[PolicyTargetReference | PolicyTargetSelector, ...]:
        return self.target_refs or self.target_selectors

    @property
    def overrides(self) -> bool:
        return self.strategy is not None and self.strategy.inheritance is Inheritance.OVERRIDE

    @model_validator(mode="after")
    def _admission(self) -> AgentgatewayPolicySpec:
        if self.traffic is None and self.frontend is None and self.backend is None:
            raise violation("set at least one of traffic, frontend, backend")
        targets = self.targets
        for target in targets:
            if (target.group, target.kind) not in TARGET_KINDS:
                raise violation(
                    f"{target.group or 'core'}/{target.kind} cannot be targeted: targets may only"
                    " be Gateways, ListenerSets, HTTPRoutes, GRPCRoutes or Services"
                )
        if len({target.kind for target in targets}) > 1:
            raise violation("all targets of one policy must be of one kind")
        if self.frontend is not None and any(
            t.kind != "Gateway" or t.section_name is not None for t in targets
        ):
            raise violation("frontend may only target a whole Gateway (no sectionName)")
        if self.traffic is not None and any(t.kind == "Service" for t in targets):
            raise violation("traffic may not target a Service")
        return self


class AgentgatewayPolicy(Resource):
    """Traffic, backend and frontend settings attached to Gateways, listeners, ListenerSets,
    routes, route rules and Services, merged field by field from the least to the most
    specific target."""

    GROUP: ClassVar[str] = AGENTGATEWAY_GROUP
    KIND: ClassVar[str] = "AgentgatewayPolicy"
    # What tools/gen_crds.py adds to the CRD besides the schema.
    CRD_SHORT_NAMES: ClassVar[tuple[str, ...]] = ("agpol",)
    CRD_STATUS: ClassVar[bool] = True
    CRD_LABELS: ClassVar[dict[str, str]] = {"gateway.networking.k8s.io/policy": "Direct"}
    CRD_PRINTER_COLUMNS: ClassVar[tuple[tuple[str, str], ...]] = (
        ("Accepted", ".status.ancestors[*].conditions[?(@.type=='Accepted')].status"),
        ("Attached", ".status.ancestors[*].conditions[?(@.type=='Attached')].status"),
    )

    spec: AgentgatewayPolicySpec
