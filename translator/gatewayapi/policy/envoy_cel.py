"""Access-log and span-attribute CEL for Gateways that Envoy serves.

Envoy evaluates these expressions itself (its ``%CEL(...)%`` formatter, its CEL access-log
filter), in its own CEL, whose attributes differ from agentgateway's: ``request.path`` keeps
the query there, ``source.address`` the port, and ``jwt``, ``backend`` and the agentgateway
functions do not exist. Passing agw's text through unchanged would log other values, or
nothing, without a word. So each expression is converted (``translator.xds.cel_print``): what
converts is what Envoy computes; an attribute that does not is left out of Envoy's lines, a
filter that does not is dropped (Envoy then logs every request), and the policy's status names
each one with the reason (``envoy_cel_gaps``).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

from translator import ir
from translator.ir.connection import AccessLogPolicy, CelAttribute, TracingPolicy
from translator.xds.cel_expr import NotExpressible
from translator.xds.cel_print import envoy_cel_text


def envoy_text(expression: str) -> str | None:
    """``expression`` as Envoy CEL text, or None when Envoy cannot compute it."""
    try:
        return envoy_cel_text(expression)
    except NotExpressible:
        return None


def envoy_attributes(attributes: tuple[CelAttribute, ...]) -> tuple[CelAttribute, ...]:
    """The attributes Envoy can compute, their expressions in Envoy's CEL."""
    converted = ((a.name, envoy_text(a.expression)) for a in attributes)
    return tuple(CelAttribute(name, text) for name, text in converted if text is not None)


def envoy_access_log(policy: AccessLogPolicy) -> AccessLogPolicy:
    """``policy`` for Envoy: attributes converted or left out, a filter converted or dropped."""
    text = envoy_text(policy.filter) if policy.filter is not None else None
    return dataclasses.replace(policy, filter=text, add=envoy_attributes(policy.add))


def envoy_tracing(policy: TracingPolicy) -> TracingPolicy:
    return dataclasses.replace(policy, add=envoy_attributes(policy.add))


def for_envoy_listener(listener: ir.Listener) -> ir.Listener:
    """``listener`` with its access log's and spans' CEL in Envoy's terms, and without metric
    labels (Envoy cannot label its stats by CEL); the same object when nothing changes."""
    connection = listener.connection
    if connection is None:
        return listener
    changed = dataclasses.replace(
        connection,
        access_log=envoy_access_log(connection.access_log) if connection.access_log else None,
        tracing=envoy_tracing(connection.tracing) if connection.tracing else None,
        metric_labels=(),
    )
    if changed == connection:
        return listener
    empty = changed == type(connection)()
    return dataclasses.replace(listener, connection=None if empty else changed)


def for_envoy(gateway: ir.GatewayIR) -> ir.GatewayIR:
    """``gateway`` as Envoy serves it (``for_envoy_listener``); the same object when that
    changes nothing."""
    listeners = tuple(for_envoy_listener(listener) for listener in gateway.listeners)
    if all(a is b for a, b in zip(listeners, gateway.listeners, strict=True)):
        return gateway
    return dataclasses.replace(gateway, listeners=listeners)


def envoy_cel_gaps(settings: Mapping[str, Mapping[str, str]]) -> list[str]:
    """Status notes on the access-log and span CEL of one policy (its settings, JSON per
    field) that Envoy cannot compute."""
    frontend = settings.get("frontend", {})
    notes: list[str] = []
    access_log = _spec(frontend.get("accessLog"))
    expression = access_log.get("filter")
    if expression is not None:
        reason = _why_not(expression)
        if reason is not None:
            notes.append(f"frontend.accessLog.filter ({reason}; Envoy logs every request)")
    for field, spec in (("accessLog", access_log), ("tracing", _spec(frontend.get("tracing")))):
        for attribute in (spec.get("attributes") or {}).get("add", ()):
            reason = _why_not(attribute["expression"])
            if reason is not None:
                notes.append(
                    f"frontend.{field}.attributes.add {attribute['name']!r} ({reason}; left out "
                    "by Envoy)"
                )
    return notes


def _spec(settings: str | None) -> dict[str, Any]:
    return json.loads(settings) if settings is not None else {}


def _why_not(expression: str) -> str | None:
    try:
        envoy_cel_text(expression)
    except NotExpressible as error:
        return str(error)
    return None
