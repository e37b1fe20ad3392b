"""Translation-time checks of CEL expressions, so a policy with a bad one gets a clear status.

The proxy compiles the same expressions with the same compiler (the shared ``cel`` package),
so an expression accepted here cannot fail to compile there.
"""

from __future__ import annotations

from cel import KNOWN_VARIABLES, CompileError, compile_expression

# What each kind of policy can see, following agentgateway: identity variables (jwt, apiKey,
# basicAuth) exist once authentication ran; response data only after the upstream answered.
_REQUEST_TIME = frozenset(
    {"request", "source", "destination", "jwt", "apiKey", "basicAuth", "backend", "env"}
)
VARIABLES_BY_USE: dict[str, frozenset[str]] = {
    "transformation": _REQUEST_TIME | {"extauthz", "metadata"},
    "rateLimit": _REQUEST_TIME,
    "authorization": _REQUEST_TIME,
    "extAuth": _REQUEST_TIME,
    "mcpAuthorization": _REQUEST_TIME | {"mcp"},
    "accessLog": KNOWN_VARIABLES,
    "tracing": KNOWN_VARIABLES,
    "metrics": KNOWN_VARIABLES,
}


def check_expression(
    expression: str, field_path: str, variables: frozenset[str] = KNOWN_VARIABLES
) -> str | None:
    """None when ``expression`` compiles; otherwise a status message naming ``field_path``."""
    try:
        compile_expression(expression, variables)
    except CompileError as error:
        return f"{field_path}: invalid CEL expression {expression!r}: {error}"
    return None


def check_expression_for(expression: str, field_path: str, use: str) -> str | None:
    """``check_expression`` with the variables available to one kind of policy."""
    return check_expression(expression, field_path, VARIABLES_BY_USE[use])
