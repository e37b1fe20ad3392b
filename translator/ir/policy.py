"""Effective AgentgatewayPolicy settings, already merged by stage 1.

One ``TrafficPolicy`` per IR route (its Gateway, listener, route and rule merged), one
``BackendPolicy`` per IR route (for every backend it sends to) and per cluster (its Service
and Service port), one ``FrontendPolicy`` per listener. Each feature keeps the user's
settings as canonical JSON (camelCase, as written in the policy) plus where they came from:
the data planes parse the features they enforce. Authorization rules are not merged but
accumulated, least specific first.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class PolicyField:
    """One feature of a section, e.g. ``timeouts`` of ``traffic``."""

    name: str
    # Canonical JSON of the feature's settings.
    settings: str
    # "AgentgatewayPolicy/ns/name"; for dumps and statuses.
    origin: str
    # Set by an Override policy: a more specific level must not replace it.
    override: bool = False

    def data(self) -> Any:
        return json.loads(self.settings)


@dataclass(frozen=True, slots=True)
class AuthorizationRule:
    # "Allow", "Deny" or "Require".
    action: str
    # CEL; the rule matches a request when any expression is true.
    expressions: tuple[str, ...]
    origin: str


@dataclass(frozen=True, slots=True)
class TrafficPolicy:
    """Fields sorted by name; ``authorization`` holds every rule from every level."""

    fields: tuple[PolicyField, ...] = ()
    authorization: tuple[AuthorizationRule, ...] = ()

    def get(self, name: str) -> PolicyField | None:
        return next((f for f in self.fields if f.name == name), None)


@dataclass(frozen=True, slots=True)
class BackendPolicy:
    fields: tuple[PolicyField, ...] = ()

    def get(self, name: str) -> PolicyField | None:
        return next((f for f in self.fields if f.name == name), None)


@dataclass(frozen=True, slots=True)
class FrontendPolicy:
    fields: tuple[PolicyField, ...] = ()

    def get(self, name: str) -> PolicyField | None:
        return next((f for f in self.fields if f.name == name), None)


def effective_backend_policy(
    route: BackendPolicy | None, service: BackendPolicy | None
) -> BackendPolicy | None:
    """What applies to one backend of one route: the Service's fields win over the route's,
    except fields a route-side Override policy set."""
    if route is None or service is None:
        return route or service
    merged = {f.name: f for f in route.fields}
    for field in service.fields:
        current = merged.get(field.name)
        if current is None or not current.override:
            merged[field.name] = field
    return BackendPolicy(tuple(merged[name] for name in sorted(merged)))
