"""agw's retry conditions, from a RetryPolicy's ``retry_options_predicates``: CEL deciding
which requests may be retried (``precondition``) and which responses are (``condition``).

Compiled once per configuration. An expression that does not compile is kept as such and
never holds (a NACK would drop the whole update): the request is not retried for it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agwproto.agw.filters.v1alpha1 import retry_pb2
from cel import CompileError, compile_expression
from dataplane.config.policy_auth import Expression
from dataplane.errors import UnsupportedValue

RETRY_CONDITIONS_TYPE = "type.googleapis.com/agw.filters.v1alpha1.RetryConditions"


@dataclass(frozen=True, slots=True)
class RetryConditions:
    # None: every request may be retried.
    precondition: Expression | None
    # None: only the retry policy's statuses are retried.
    condition: Expression | None


def compile_retry_conditions(predicates: Any) -> RetryConditions | None:
    """The conditions among ``RetryPolicy.retry_options_predicates``; None without any."""
    found = None
    for predicate in predicates:
        if predicate.typed_config.type_url != RETRY_CONDITIONS_TYPE:
            raise UnsupportedValue(
                "RetryPolicy.retry_options_predicates", predicate.typed_config.type_url
            )
        config = retry_pb2.RetryConditions()
        predicate.typed_config.Unpack(config)
        found = RetryConditions(_expression(config.precondition), _expression(config.condition))
    return found


def _expression(source: str) -> Expression | None:
    if not source:
        return None
    try:
        return Expression(source, compile_expression(source))
    except CompileError:
        return Expression(source, None)
