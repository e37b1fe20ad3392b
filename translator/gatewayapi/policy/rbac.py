"""CEL authorization for Gateways served by Envoy: which rules Envoy's RBAC filter can enforce.

A rule is enforced on Envoy when every one of its expressions converts to Envoy's CEL
(``translator.xds.cel_expr``); enforcing only some of a rule's expressions would allow or
deny other requests than the rule says, so a rule with one expression Envoy lacks is left
out whole, and its policy's status names the expressions and why."""

from __future__ import annotations

from translator.ir.policy import AuthorizationRule
from translator.xds.cel_expr import NotExpressible, to_envoy_expr


def envoy_rule_problems(rule: AuthorizationRule) -> list[str]:
    """Why Envoy cannot enforce ``rule``: one message per expression it cannot convert."""
    problems = []
    for expression in rule.expressions:
        try:
            to_envoy_expr(expression)
        except NotExpressible as error:
            problems.append(f"{expression!r}: {error}")
    return problems


def envoy_rules(rules: tuple[AuthorizationRule, ...]) -> tuple[AuthorizationRule, ...]:
    """The rules Envoy enforces, in order."""
    return tuple(rule for rule in rules if not envoy_rule_problems(rule))
