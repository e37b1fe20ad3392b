"""One access-log line shaped by a listener's ``AccessLogShape``: the CEL filter decides
whether the request is logged at all, and the configured attributes replace the default ones
(a CEL attribute that fails to evaluate is left out, as agentgateway does)."""

from __future__ import annotations

from typing import Any

from cel import Activation, EvaluationError, Value
from dataplane.cel.facts import HeadFacts, StatusFacts
from dataplane.config.access_log import AccessLogShape
from dataplane.request import RequestHead


def shape_line(
    shape: AccessLogShape,
    defaults: dict[str, Any],
    head: RequestHead,
    protocol: str,
    status: int,
) -> dict[str, Any] | None:
    """The attributes to log, or None when the filter drops the request."""
    activation = Activation(HeadFacts(head, protocol), response=StatusFacts(status))
    if shape.filter is not None:
        try:
            if shape.filter.evaluate(activation) is not True:
                return None
        except EvaluationError:
            return None
    if shape.fields is None:
        return defaults
    line: dict[str, Any] = {}
    for key, source in shape.fields:
        if isinstance(source, str):
            line[key] = defaults.get(source)
            continue
        try:
            value: Value = source.evaluate(activation)
        except EvaluationError:
            continue
        line[key] = value if isinstance(value, str | int | float | bool) else str(value)
    return line
