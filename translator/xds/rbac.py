"""CEL authorization on Envoy: two ``envoy.filters.http.rbac`` filters whose policies'
``condition`` is the rules' CEL converted to Envoy's (``cel_expr``).

agentgateway's semantics: a request is denied when any Deny rule matches, when any Require
rule does not, or when Allow rules exist and none matches; a rule matches when any of its
expressions is true, and an expression that fails (a missing header) is not true. Envoy's
RBAC policies do not match when their condition fails, so:

- the ``deny`` filter (action DENY) has one policy per Deny rule: an error denies nothing;
- the ``allow`` filter (action ALLOW) has one policy, every Require rule and any Allow rule
  ANDed: an error in a Require rule (or in every Allow rule) fails the condition, and the
  request is denied, as agentgateway denies it.

Both filters are disabled on the connection manager; a route with rules turns them on with an
``RBACPerRoute`` holding its own. Denials answer 403 ``RBAC: access denied``.
"""

from __future__ import annotations

from typing import Any

from envoy.config.rbac.v3 import rbac_pb2
from envoy.extensions.filters.http.rbac.v3 import rbac_pb2 as http_rbac_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from google.api.expr.v1alpha1 import syntax_pb2
from google.protobuf.message import Message

from translator.ir.auth import RBAC_ALLOW_FILTER, RBAC_DENY_FILTER, RouteAuth
from translator.ir.policy import AuthorizationRule
from translator.xds.cel_expr import to_envoy_expr
from translator.xds.extensions import pack

RBAC_FILTERS = frozenset({RBAC_DENY_FILTER, RBAC_ALLOW_FILTER})


def build_rbac_filter(name: str) -> Message:
    """Inert on the connection manager; routes bring their policies."""
    return hcm_pb2.HttpFilter(name=name, typed_config=pack(http_rbac_pb2.RBAC()), disabled=True)


def add_rbac_per_route(per_filter: Any, auth: RouteAuth) -> None:
    rules = auth.envoy_authorization
    deny = [rule for rule in rules if rule.action == "Deny"]
    if deny:
        policies = {
            _policy_name(i, rule): _condition([rule], "_||_") for i, rule in enumerate(deny)
        }
        per_filter[RBAC_DENY_FILTER].CopyFrom(_per_route(rbac_pb2.RBAC.DENY, policies))
    require = [rule for rule in rules if rule.action == "Require"]
    allow = [rule for rule in rules if rule.action == "Allow"]
    if require or allow:
        parts = [_condition([rule], "_||_") for rule in require]
        if allow:
            parts.append(_condition(allow, "_||_"))
        policies = {"agw/require-and-allow": _join(parts, "_&&_")}
        per_filter[RBAC_ALLOW_FILTER].CopyFrom(_per_route(rbac_pb2.RBAC.ALLOW, policies))


def _policy_name(index: int, rule: AuthorizationRule) -> str:
    # Policy names appear in Envoy's RBAC stats and logs: say which policy the rule is from.
    return f"{rule.origin}/deny/{index}"


def _per_route(action: int, conditions: dict[str, Any]) -> Message:
    policies = {
        name: rbac_pb2.Policy(
            permissions=[rbac_pb2.Permission(any=True)],
            principals=[rbac_pb2.Principal(any=True)],
            condition=condition,
        )
        for name, condition in conditions.items()
    }
    rules = rbac_pb2.RBAC(action=action, policies=policies)
    return pack(http_rbac_pb2.RBACPerRoute(rbac=http_rbac_pb2.RBAC(rules=rules)))


def _condition(rules: list[AuthorizationRule], joiner: str) -> Any:
    return _join([to_envoy_expr(e) for rule in rules for e in rule.expressions], joiner)


def _join(parts: list[Any], function: str) -> Any:
    joined = parts[0]
    for part in parts[1:]:
        call = syntax_pb2.Expr.Call(function=function, args=[joined, part])
        joined = syntax_pb2.Expr(call_expr=call)
    return joined
