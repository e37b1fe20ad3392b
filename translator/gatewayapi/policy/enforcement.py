"""Which AgentgatewayPolicy fields this version of agw does not enforce yet.

The one table later phases shrink as the data planes learn each feature. A policy that sets a
field listed here says so in its status, at every ancestor, rather than being silently
accepted."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

from translator.gatewayapi.policy.envoy_cel import envoy_cel_gaps
from translator.gatewayapi.policy.ratelimit_global import envoy_rate_limit_gaps
from translator.gatewayapi.policy.rbac import envoy_rule_problems
from translator.gatewayapi.policy.tracing import envoy_tracing_gaps
from translator.ir.policy import AuthorizationRule
from translator.options import DataPlane

NOT_ENFORCED: frozenset[str] = frozenset()


# Parts of enforced fields that are not enforced yet: "section.field" -> its JSON keys
# (dotted for nested keys).
NOT_ENFORCED_PARTS: dict[str, tuple[str, ...]] = {}
# Values of enforced fields' settings that are not enforced yet: (path, JSON key, value).
NOT_ENFORCED_VALUES: tuple[tuple[str, str, str], ...] = ()
# Parts of list items not enforced yet: (path, list key, key path within an item).
NOT_ENFORCED_ITEM_PARTS: tuple[tuple[str, str, tuple[str, ...]], ...] = ()
# Parts that always serialize (list defaults) but are not enforced when non-empty:
# (path, key path).
NOT_ENFORCED_NONEMPTY: tuple[tuple[str, tuple[str, ...]], ...] = (
    # Request metrics have no default labels to remove.
    ("frontend.metrics", ("attributes", "remove")),
)


def not_enforced_parts(settings: Mapping[str, Mapping[str, str]]) -> list[str]:
    """The ``section.field.part`` paths set in ``settings`` (section -> field -> canonical
    JSON, as ``PreparedPolicy.settings``) that no data plane enforces, sorted."""
    found = []
    for path, parts in NOT_ENFORCED_PARTS.items():
        section, _, name = path.partition(".")
        text = settings.get(section, {}).get(name)
        if text is not None:
            data = json.loads(text)
            found += [f"{path}.{part}" for part in parts if _has_path(data, tuple(part.split(".")))]
    for path, key, value in NOT_ENFORCED_VALUES:
        section, _, name = path.partition(".")
        text = settings.get(section, {}).get(name)
        if text is not None and json.loads(text).get(key) == value:
            found.append(f"{path}.{key}={value}")
    for path, key, within in NOT_ENFORCED_ITEM_PARTS:
        section, _, name = path.partition(".")
        text = settings.get(section, {}).get(name)
        items = json.loads(text).get(key, ()) if text is not None else ()
        if any(_has_path(item, within) for item in items):
            found.append(f"{path}.{key}[].{'.'.join(within)}")
    for path, keys in NOT_ENFORCED_NONEMPTY:
        if _value_at(_field(settings, path), keys):
            found.append(f"{path}.{'.'.join(keys)}")
    return sorted(found)


def _value_at(data: object, path: tuple[str, ...]) -> object:
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


# Fields only the agw proxy enforces (Envoy has no filter for them): a policy that reaches a
# Gateway served by Envoy says, at that ancestor, that they are not enforced there.
NOT_ENFORCED_ON_ENVOY: frozenset[str] = frozenset(
    {
        "traffic.transformation",
        # Envoy's stats cannot take labels computed by CEL per request.
        "frontend.metrics",
    }
)
# Parts and values of fields both data planes enforce that only the agw proxy honours.
NOT_ENFORCED_ON_ENVOY_PARTS: dict[str, tuple[str, ...]] = {
    "traffic.basicAuthentication": ("realm",),
    "traffic.retry": ("precondition", "condition"),
    # Envoy's api_key_auth compares keys as presented, not their digests.
    "traffic.apiKeyAuthentication": ("keyHash",),
}
NOT_ENFORCED_ON_ENVOY_VALUES: tuple[tuple[str, str, str], ...] = (
    ("traffic.basicAuthentication", "mode", "Optional"),
    ("traffic.apiKeyAuthentication", "mode", "Optional"),
)
_NOT_ENFORCED_ON: dict[DataPlane, frozenset[str]] = {DataPlane.ENVOY: NOT_ENFORCED_ON_ENVOY}


def not_enforced_on(fields: Iterable[str], data_plane: DataPlane) -> list[str]:
    """The ``section.field`` paths among ``fields`` that ``data_plane`` does not enforce
    although agw's own proxy does, sorted."""
    return sorted(set(fields) & _NOT_ENFORCED_ON.get(data_plane, frozenset()))


def envoy_only_parts(settings: Mapping[str, Mapping[str, str]]) -> list[str]:
    """The ``section.field.part`` paths (and ``part=value`` settings) set in ``settings``
    that Envoy does not enforce although agw's own proxy does, sorted."""
    found = []
    for path, parts in NOT_ENFORCED_ON_ENVOY_PARTS.items():
        data = _field(settings, path)
        found += [f"{path}.{part}" for part in parts if _has_path(data, tuple(part.split(".")))]
    for path, key, value in NOT_ENFORCED_ON_ENVOY_VALUES:
        data = _field(settings, path)
        if isinstance(data, dict) and data.get(key) == value:
            found.append(f"{path}.{key}={value}")
    return sorted(found)


def _field(settings: Mapping[str, Mapping[str, str]], path: str) -> object:
    section, _, name = path.partition(".")
    text = settings.get(section, {}).get(name)
    return json.loads(text) if text is not None else None


# Fields Envoy enforces only where their CEL is something Envoy can compute: field -> what it
# can. ``not_enforced_on_envoy_parts`` names the rest in the status, per policy.
ENVOY_CEL_SUBSET: dict[str, str] = {
    "traffic.authorization": "rules that convert to Envoy's RBAC CEL",
    "traffic.rateLimit": (
        "global descriptors of literals, headers, `request.method`/`host`/`pathAndQuery` and "
        "`source.address`"
    ),
    "frontend.tracing": "sampling given as constants, and attributes Envoy's CEL can compute",
    "frontend.accessLog": (
        "a filter and attributes Envoy's CEL can compute (request fields, `response.code` and "
        "`headers`, `source`/`destination.port`, `jwt` claims, `extauthz`)"
    ),
}


def not_enforced_on_envoy_parts(
    settings: Mapping[str, Mapping[str, str]], authorization: AuthorizationRule | None
) -> tuple[list[str], list[str]]:
    """What of one policy Envoy cannot enforce because it needs CEL Envoy lacks: whole fields
    (an authorization rule with such an expression), and notes naming the parts."""
    fields: list[str] = []
    notes = envoy_rate_limit_gaps(settings.get("traffic", {}).get("rateLimit"))
    notes += envoy_tracing_gaps(settings.get("frontend", {}).get("tracing"))
    notes += envoy_cel_gaps(settings)
    problems = envoy_rule_problems(authorization) if authorization is not None else []
    if problems:
        fields.append("traffic.authorization")
        notes.append(f"traffic.authorization ({'; '.join(problems)})")
    return fields, notes


def not_enforced(fields: Iterable[str]) -> list[str]:
    """The ``section.field`` paths among ``fields`` that no data plane enforces, sorted."""
    return sorted(set(fields) & NOT_ENFORCED)


def _has_path(data: object, path: tuple[str, ...]) -> bool:
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return False
        data = data[key]
    return True
