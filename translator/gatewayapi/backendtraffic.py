"""XBackendTrafficPolicy: retry budgets and session persistence for the Services it targets.

A policy targets Services in its own namespace. Where several target one Service, the oldest
(then namespace/name) is in force and the others are not Accepted (Conflicted). A field agw
cannot honour makes the policy not Accepted (UnsupportedValue), naming the field."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from translator import ir
from translator.gatewayapi.conditions import ConditionType, Reason
from translator.gatewayapi.filters import UnsupportedFilter
from translator.gatewayapi.retrybudget import retry_budget
from translator.gatewayapi.session import session_persistence
from translator.gatewayapi.status import Conditions, ObjectId, PolicyStatus
from translator.model import XBackendTrafficPolicy
from translator.model.listenerset import EXPERIMENTAL_GROUP
from translator.resources import ResourceSet

KIND = "XBackendTrafficPolicy"


@dataclass
class TrafficPolicyVerdict:
    policy: XBackendTrafficPolicy
    budget: ir.RetryBudget | None = None
    session: ir.SessionPersistence | None = None
    conditions: Conditions = field(default_factory=Conditions)
    # Every field it sets can be honoured (conflicts with other policies aside).
    valid: bool = True

    @property
    def key(self) -> ObjectId:
        meta = self.policy.metadata
        return ObjectId(EXPERIMENTAL_GROUP, KIND, meta.namespace, meta.name)


class BackendTrafficPolicies:
    def __init__(self, resources: ResourceSet) -> None:
        self.verdicts = [_judge(policy) for policy in resources.backend_traffic_policies]
        # (namespace, service) -> verdicts, the one in force first
        self._targets: dict[tuple[str, str], list[TrafficPolicyVerdict]] = defaultdict(list)
        for verdict in self.verdicts:
            meta = verdict.policy.metadata
            for ref in verdict.policy.spec.target_refs:
                if (ref.group or "", ref.kind) == ("", "Service"):
                    self._targets[(meta.namespace, ref.name)].append(verdict)
        for verdicts in self._targets.values():
            verdicts.sort(key=_age)

    def candidates(self, namespace: str, service: str) -> list[TrafficPolicyVerdict]:
        return self._targets.get((namespace, service), [])

    def for_service(self, namespace: str, service: str) -> TrafficPolicyVerdict | None:
        """The valid policy in force for a Service; other valid ones are marked Conflicted."""
        valid = [verdict for verdict in self.candidates(namespace, service) if verdict.valid]
        if not valid:
            return None
        winner, *losers = valid
        for loser in losers:
            won = winner.policy.metadata
            message = f"{KIND} {won.namespace}/{won.name} applies to Service {namespace}/{service}"
            loser.conditions.set(ConditionType.ACCEPTED, False, Reason.CONFLICTED, message)
        return winner


def _judge(policy: XBackendTrafficPolicy) -> TrafficPolicyVerdict:
    meta = policy.metadata
    verdict = TrafficPolicyVerdict(policy)
    verdict.conditions.set(ConditionType.ACCEPTED, True, Reason.ACCEPTED, "Policy is accepted")
    spec = policy.spec
    if spec.retry_constraint is not None:
        verdict.budget = retry_budget(spec.retry_constraint)
    if spec.session_persistence is not None:
        owner = f"{KIND}/{meta.namespace}/{meta.name}"
        try:
            verdict.session = session_persistence(spec.session_persistence, owner, (), "spec")
        except UnsupportedFilter as problem:
            verdict.conditions.set(
                ConditionType.ACCEPTED, False, Reason.UNSUPPORTED_VALUE, str(problem)
            )
            verdict.valid = False
    return verdict


def _age(verdict: TrafficPolicyVerdict) -> tuple[str, str, str]:
    meta = verdict.policy.metadata
    return (meta.creation_timestamp or "", meta.namespace, meta.name)


def traffic_policy_ancestors(
    gateways: Iterable[tuple[tuple[str, str], Iterable[Any]]],
    policies: BackendTrafficPolicies,
) -> dict[ObjectId, set[tuple[str, str]]]:
    """Policy -> the Gateways whose attached routes send traffic to a Service it targets."""
    found: dict[ObjectId, set[tuple[str, str]]] = defaultdict(set)
    if not policies.verdicts:
        return found
    for gateway, routes in gateways:
        for route in routes:
            for rule in route.spec.rules or ():
                for ref in getattr(rule, "backend_refs", None) or ():
                    if (ref.group or "", ref.kind or "Service") != ("", "Service"):
                        continue
                    namespace = ref.namespace or route.metadata.namespace
                    policies.for_service(namespace, ref.name)  # marks losers
                    for verdict in policies.candidates(namespace, ref.name):
                        found[verdict.key].add(gateway)
    return found


def traffic_policy_statuses(
    gateways: Iterable[tuple[tuple[str, str], Iterable[Any]]],
    policies: BackendTrafficPolicies,
    controller_name: str,
) -> dict[ObjectId, PolicyStatus]:
    """A status for each policy in use by our Gateways, one ancestor per Gateway."""
    ancestors = traffic_policy_ancestors(gateways, policies)
    return {
        verdict.key: PolicyStatus(
            verdict.policy.metadata.generation,
            verdict.conditions,
            sorted(ancestors[verdict.key]),
            controller_name,
        )
        for verdict in policies.verdicts
        if ancestors.get(verdict.key)
    }
