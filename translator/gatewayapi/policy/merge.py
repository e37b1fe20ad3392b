"""Merge the policies attached along one path (Gateway, listener, route, rule, Service) into
one effective policy, field by field, and remember who won and who lost for the statuses.

Per field: the most specific policy wins, unless Override policies set the field, in which
case the least specific of those wins (an Override keeps more specific policies from changing
what it sets). Between two policies at one level the oldest wins, then namespace/name; the
other is told it lost a tie (Conflicted), a less specific one that it was Overridden.
Authorization rules are never merged: every level's rules apply, least specific first.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from translator.gatewayapi.conditions import Reason
from translator.gatewayapi.policy.targets import AttachKey, GatewayKey, PreparedPolicy
from translator.ir.policy import AuthorizationRule, PolicyField

Candidate = tuple[int, PreparedPolicy]  # (level, policy)


@dataclass
class Outcome:
    """What happened to one policy's fields at one Gateway."""

    won: set[str] = field(default_factory=set)
    # path -> (reason, the policy that took the field)
    lost: dict[str, tuple[Reason, str]] = field(default_factory=dict)
    # Where a field it won is only partly enforced there (see traffic_notes).
    notes: set[str] = field(default_factory=set)


# (policy, "section.field", None when it won, else (reason, the winner's origin))
Record = tuple[PreparedPolicy, str, tuple[Reason, str] | None]
_Merged = tuple[tuple[PolicyField, ...], tuple[Record, ...]]


class Merger:
    """Effective policies per attachment path, cached; outcomes per (policy, Gateway)."""

    def __init__(self, index: dict[AttachKey, list[PreparedPolicy]]) -> None:
        self.index = index
        self.outcomes: dict[tuple[int, GatewayKey], Outcome] = defaultdict(Outcome)
        self._merged: dict[tuple[str, tuple[AttachKey, ...]], _Merged] = {}

    def candidates(self, keys: Sequence[AttachKey]) -> list[Candidate]:
        return [(key[0], p) for key in keys for p in self.index.get(key, ())]

    def fields(
        self, gateway: GatewayKey, section: str, keys: tuple[AttachKey, ...], record: bool = True
    ) -> tuple[PolicyField, ...]:
        """The merged fields of ``section`` along ``keys`` (least specific first); with
        ``record``, the winners and losers count in the statuses at ``gateway``."""
        cache_key = (section, keys)
        found = self._merged.get(cache_key)
        if found is None:
            found = _merge(section, self.candidates(keys))
            self._merged[cache_key] = found
        fields, records = found
        if record:
            for prepared, path, lost in records:
                outcome = self.outcome(prepared, gateway)
                if lost is None:
                    outcome.won.add(path)
                else:
                    outcome.lost.setdefault(path, lost)
        return fields

    def authorization(self, keys: tuple[AttachKey, ...]) -> tuple[AuthorizationRule, ...]:
        ordered = sorted(self.candidates(keys), key=lambda c: (c[0], c[1].age))
        return tuple(p.authorization for _, p in ordered if p.authorization is not None)

    def reached(self, gateway: GatewayKey, keys: Sequence[AttachKey]) -> None:
        """Authorization rules accumulate: they are in effect wherever their policy attaches."""
        for _, prepared in self.candidates(keys):
            if prepared.authorization is not None:
                self.outcome(prepared, gateway).won.add("traffic.authorization")

    def outcome(self, prepared: PreparedPolicy, gateway: GatewayKey) -> Outcome:
        return self.outcomes[(id(prepared), gateway)]


def _merge(section: str, candidates: list[Candidate]) -> _Merged:
    by_field: dict[str, list[Candidate]] = defaultdict(list)
    for level, prepared in candidates:
        for name in prepared.settings.get(section, {}):
            by_field[name].append((level, prepared))
    merged = []
    records: list[Record] = []
    for name in sorted(by_field):
        contenders = by_field[name]
        level, chosen = _winner(contenders)
        path = f"{section}.{name}"
        records.append((chosen, path, None))
        for other_level, other in contenders:
            if other is chosen:
                continue
            tie = other_level == level and other.override == chosen.override
            reason = Reason.CONFLICTED if tie else Reason.OVERRIDDEN
            records.append((other, path, (reason, chosen.origin)))
        merged.append(
            PolicyField(name, chosen.settings[section][name], chosen.origin, chosen.override)
        )
    return tuple(merged), tuple(records)


def _winner(contenders: list[Candidate]) -> Candidate:
    overriders = [c for c in contenders if c[1].override]
    if overriders:
        return min(overriders, key=lambda c: (c[0], c[1].age))
    return min(contenders, key=lambda c: (-c[0], c[1].age))
