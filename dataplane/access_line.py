"""One access-log line shaped by a listener's ``AccessLogShape``: the CEL filter decides
whether the request is logged at all, and the configured attributes replace the default ones
(a CEL attribute that fails to evaluate is left out, as agentgateway does).

The default attributes and the evaluation of configured ones also give spans their custom
tags (``dataplane.tracing``), so a tag and a log field with the same value agree.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from cel import Activation, EvaluationError, Program, Value
from dataplane.cel.exchange import exchange_variables
from dataplane.cel.facts import StatusFacts
from dataplane.config.access_log import AccessLogShape

if TYPE_CHECKING:
    from dataplane.http1.exchange import Exchange


def default_attributes(exchange: Exchange) -> dict[str, Any]:
    """The default access-log line: one attribute per ``COMMANDS`` entry."""
    head = exchange.head
    route = exchange.route
    return dict(
        start_time=exchange.started_at,
        duration_ms=round((time.time() - exchange.started_at) * 1000, 3),
        method=head.method.decode("latin-1"),
        path=exchange.target.decode("latin-1"),
        authority=exchange.host_header.decode("latin-1"),
        protocol=exchange.protocol_name,
        response_code=exchange.status,
        route_name=route.name if route else "",
        upstream_cluster=exchange.cluster,
        request_id=(exchange.request_id or b"").decode("latin-1"),
        downstream_remote_address=exchange.conn.peer.decode("latin-1"),
        user_agent=(head.header(b"user-agent") or b"").decode("latin-1"),
    )


def finished_request(exchange: Exchange) -> Activation:
    """What CEL sees of an exchange once it is over: everything ``exchange_variables`` gives,
    the transformation's ``metadata``, and ``response`` as its status (headers are not kept)."""
    return exchange_variables(
        exchange, metadata=exchange.cel_metadata, response=StatusFacts(exchange.status)
    )


def attribute_values(
    fields: tuple[tuple[str, str | Program], ...],
    defaults: dict[str, Any] | None,
    activation: Activation | None,
) -> dict[str, Any]:
    """Each field's value: a default attribute (by name) or a CEL result, left out when the
    expression fails. ``defaults`` (``activation``) may be None only when no field names a
    default attribute (is CEL)."""
    values: dict[str, Any] = {}
    for key, source in fields:
        if isinstance(source, str):
            assert defaults is not None
            values[key] = defaults.get(source)
            continue
        assert activation is not None
        try:
            value: Value = source.evaluate(activation)
        except EvaluationError:
            continue
        values[key] = value if isinstance(value, str | int | float | bool) else str(value)
    return values


def shape_line(
    shape: AccessLogShape, defaults: dict[str, Any], exchange: Exchange
) -> dict[str, Any] | None:
    """The attributes to log, or None when the filter drops the request."""
    activation = finished_request(exchange)
    if shape.filter is not None:
        try:
            if shape.filter.evaluate(activation) is not True:
                return None
        except EvaluationError:
            return None
    if shape.fields is None:
        return defaults
    return attribute_values(shape.fields, defaults, activation)
