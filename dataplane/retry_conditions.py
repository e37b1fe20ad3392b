"""agw's CEL retry conditions at run time (``dataplane.config.retry_conditions``).

The precondition is evaluated once, when the request is forwarded, over the request (and who
authentication found): unless it is true the request gets no retries, though its per-try
timeout still applies. The condition is evaluated for each response head that the policy's
statuses do not already retry, over the request and ``response``: true retries it, within
the same attempts, backoff and budget. An expression that fails is not true. Failures before
a response (connect failure, reset) are retried as the policy says, without the condition.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from dataplane.cel.exchange import exchange_variables
from dataplane.config.retry_conditions import RetryConditions
from dataplane.config.route_table import RetryPolicy
from dataplane.transformation import ResponseHead, evaluate

if TYPE_CHECKING:
    from dataplane.http1.exchange import Exchange
    from dataplane.http2.upstream import UpstreamStream
    from dataplane.upstream.connection import UpstreamConnection


def admitted(exchange: Exchange, retry: RetryPolicy) -> RetryPolicy:
    """``retry`` as it applies to this request."""
    conditions = retry.conditions
    if conditions is None or conditions.precondition is None:
        return retry
    variables = exchange_variables(exchange)
    if evaluate(conditions.precondition, variables, False) is True:
        return retry
    return dataclasses.replace(retry, num_retries=0)


def retries_response(
    exchange: Exchange,
    conditions: RetryConditions,
    status: int,
    response: UpstreamConnection | UpstreamStream,
) -> bool:
    if conditions.condition is None:
        return False
    head = ResponseHead(status, response.headers)
    variables = exchange_variables(exchange, response=head)
    return evaluate(conditions.condition, variables, False) is True
