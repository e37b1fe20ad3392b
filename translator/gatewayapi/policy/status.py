"""AgentgatewayPolicy status: one ``ancestors[]`` entry per Gateway the policy reaches, and
one per target that resolves to nothing, each with ``Accepted`` and ``Attached``.

Accepted says whether the targets exist and whether agw enforces what the policy sets (a
policy none of whose fields is enforced is not Accepted: UnsupportedValue, naming them).
Attached says whether its fields are in effect there, or which policy took each field
(Overridden by a more specific or an Override policy, Conflicted on a tie it lost)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from translator.gatewayapi.conditions import ConditionType, Reason
from translator.gatewayapi.policy.enforcement import (
    envoy_only_parts,
    not_enforced,
    not_enforced_on,
    not_enforced_on_envoy_parts,
    not_enforced_parts,
)
from translator.gatewayapi.policy.merge import Merger, Outcome
from translator.gatewayapi.policy.targets import GatewayKey, PreparedPolicy
from translator.gatewayapi.status import GATEWAY_GROUP, Conditions, PolicyStatus
from translator.options import DataPlane


@dataclass
class AncestorPolicyStatus(PolicyStatus):
    """A policy status whose ancestors each have their own conditions."""

    ancestors: list[tuple[dict[str, Any], Conditions]] = field(default_factory=list)

    def render(self) -> dict[str, Any]:
        return {
            "ancestors": [
                {
                    "ancestorRef": ref,
                    "controllerName": self.controller_name,
                    "conditions": conditions.render(self.generation),
                }
                for ref, conditions in self.ancestors
            ]
        }


def policy_status(
    prepared: PreparedPolicy,
    merger: Merger,
    controller_name: str,
    data_plane_of: Callable[[str], DataPlane] | None = None,
) -> AncestorPolicyStatus | None:
    """None for a policy that concerns none of our Gateways. ``data_plane_of("ns/name")``
    says which proxy serves a Gateway (the agw proxy when not given)."""
    ancestors: list[tuple[dict[str, Any], Conditions]] = []
    problems: dict[tuple[Any, ...], list[tuple[Reason, str]]] = {}
    refs: dict[tuple[Any, ...], dict[str, Any]] = {}
    for ref, reason, message in prepared.problems:
        key = _ref_key(ref)
        refs[key] = ref
        problems.setdefault(key, []).append((reason, message))
    for gateway in sorted(prepared.gateways):
        ref = _gateway_ref(gateway)
        found = problems.pop(_ref_key(ref), [])
        outcome = merger.outcome(prepared, gateway)
        plane = data_plane_of(f"{gateway[0]}/{gateway[1]}") if data_plane_of else DataPlane.AGW
        ancestors.append((ref, _reached(prepared, outcome, [m for _, m in found], plane)))
    for key in sorted(problems, key=str):
        reason, message = problems[key][0]
        conditions = Conditions()
        text = "; ".join(m for _, m in problems[key])
        conditions.set(ConditionType.ACCEPTED, False, reason, text)
        conditions.set(ConditionType.ATTACHED, False, reason, f"not attached: {text}")
        ancestors.append((refs[key], conditions))
    if not ancestors:
        return None
    meta = prepared.policy.metadata
    return AncestorPolicyStatus(
        meta.generation, Conditions(), [], controller_name, ancestors=ancestors
    )


def _reached(
    prepared: PreparedPolicy, outcome: Outcome, ignored: list[str], plane: DataPlane
) -> Conditions:
    conditions = Conditions()
    paths = prepared.paths
    unenforced = not_enforced(paths)
    notes = [f"ignored target: {m}" for m in ignored]
    notes += prepared.notes
    parts = not_enforced_parts(prepared.settings)
    if unenforced or parts:
        notes.append(f"not enforced by this version of agw: {', '.join(unenforced + parts)}")
    notes += sorted(outcome.notes)
    on_plane = not_enforced_on(paths, plane)
    cel_fields: list[str] = []
    parts_on_plane: list[str] = []
    if plane is DataPlane.ENVOY:
        notes += prepared.envoy_notes
        cel_fields, cel_notes = not_enforced_on_envoy_parts(
            prepared.settings, prepared.authorization
        )
        on_plane = sorted(set(on_plane) | set(cel_fields))
        parts_on_plane = envoy_only_parts(prepared.settings)
        if cel_notes:
            notes.append(
                f"needs CEL Envoy lacks, only the agw proxy enforces: {'; '.join(cel_notes)}"
            )
    if on_plane or parts_on_plane:
        named = ", ".join(on_plane + parts_on_plane)
        notes.append(f"not enforced on Envoy, only by the agw proxy: {named}")
    unenforced = sorted(set(unenforced) | set(on_plane))
    if prepared.invalid:
        conditions.set(ConditionType.ACCEPTED, False, Reason.INVALID, _invalid(prepared, notes))
    elif unenforced and len(unenforced) == len(paths):
        conditions.set(ConditionType.ACCEPTED, False, Reason.UNSUPPORTED_VALUE, "; ".join(notes))
    else:
        message = "; ".join(["Policy accepted", *notes])
        conditions.set(ConditionType.ACCEPTED, True, Reason.ACCEPTED, message)
    lost = {
        path: outcome.lost[path]
        for path in paths
        if path in outcome.lost and path not in outcome.won
    }
    if not paths and prepared.invalid:
        message = "not attached: every field it sets is invalid"
        conditions.set(ConditionType.ATTACHED, False, Reason.INVALID, message)
        return conditions
    if not lost:
        conditions.set(ConditionType.ATTACHED, True, Reason.ATTACHED, "Policy attached")
        return conditions
    taken = "; ".join(
        f"{path} lost a tie to {winner} (the oldest wins, then namespace/name)"
        if reason is Reason.CONFLICTED
        else f"{path} overridden by {winner}"
        for path, (reason, winner) in sorted(lost.items())
    )
    if len(lost) < len(paths):
        conditions.set(ConditionType.ATTACHED, True, Reason.MERGED, f"partly in effect: {taken}")
        return conditions
    tie = any(reason is Reason.CONFLICTED for reason, _ in lost.values())
    reason = Reason.CONFLICTED if tie else Reason.OVERRIDDEN
    conditions.set(ConditionType.ATTACHED, False, reason, f"not in effect: {taken}")
    return conditions


def _invalid(prepared: PreparedPolicy, notes: list[str]) -> str:
    """Names the fields dropped as invalid (and why), then what still applies."""
    errors = [message for path in sorted(prepared.invalid) for message in prepared.invalid[path]]
    dropped = f"not applied: {', '.join(sorted(prepared.invalid))}"
    kept = prepared.paths
    applied = f"in effect: {', '.join(kept)}" if kept else "nothing else set"
    return "; ".join([*errors, dropped, applied, *notes])


def _gateway_ref(gateway: GatewayKey) -> dict[str, Any]:
    return {"group": GATEWAY_GROUP, "kind": "Gateway", "namespace": gateway[0], "name": gateway[1]}


def _ref_key(ref: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(sorted(ref.items()))
