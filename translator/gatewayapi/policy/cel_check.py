"""Check every CEL expression of an AgentgatewayPolicy at translation time.

A field holding an expression that does not compile is dropped from the prepared policy
before merging, so it is never shipped to a data plane (a less specific policy's value of
the same field applies instead), and the policy's status names the field and the CEL error.
Each expression is checked against the variables the data plane offers where it runs:
response transformations and retry conditions see ``response``, request-time uses do not.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from cel import KNOWN_VARIABLES
from translator.cel import VARIABLES_BY_USE, check_expression
from translator.gatewayapi.policy.targets import PreparedPolicy

_TRANSFORM = VARIABLES_BY_USE["transformation"]
_RESPONSE_TRANSFORM = _TRANSFORM | {"response"}
_REQUEST = VARIABLES_BY_USE["extAuth"]
_RESPONSE = _REQUEST | {"response"}
_KeyPath = tuple[str, ...]
_DESCRIPTOR = ("global", "descriptors", "*", "entries", "*", "expression")


def _transform_paths(
    direction: str, variables: frozenset[str]
) -> list[tuple[_KeyPath, frozenset[str]]]:
    return [
        ((direction, "set", "*", "value"), variables),
        ((direction, "add", "*", "value"), variables),
        ((direction, "body"), variables),
        ((direction, "metadata", "*"), variables),
    ]


def _attribute_paths(use: str) -> list[tuple[_KeyPath, frozenset[str]]]:
    return [(("attributes", "add", "*", "expression"), VARIABLES_BY_USE[use])]


# "section.field" -> where its expressions sit ("*": every list item or map value) and the
# variables they may use.
EXPRESSION_PATHS: dict[str, list[tuple[_KeyPath, frozenset[str]]]] = {
    "traffic.transformation": _transform_paths("request", _TRANSFORM)
    + _transform_paths("response", _RESPONSE_TRANSFORM),
    "traffic.retry": [(("precondition",), _REQUEST), (("condition",), _RESPONSE)],
    "traffic.rateLimit": [(_DESCRIPTOR, VARIABLES_BY_USE["rateLimit"])],
    "frontend.accessLog": [(("filter",), KNOWN_VARIABLES), *_attribute_paths("accessLog")],
    "frontend.tracing": [
        (("randomSampling",), VARIABLES_BY_USE["tracing"]),
        (("clientSampling",), VARIABLES_BY_USE["tracing"]),
        *_attribute_paths("tracing"),
    ],
    "frontend.metrics": _attribute_paths("metrics"),
}


def drop_invalid_expressions(prepared: PreparedPolicy) -> PreparedPolicy:
    """``prepared`` without the fields whose CEL does not compile; each dropped field's
    messages go into ``prepared.invalid`` (path -> messages)."""
    for path, places in EXPRESSION_PATHS.items():
        section, _, name = path.partition(".")
        text = prepared.settings.get(section, {}).get(name)
        if text is None:
            continue
        messages = list(_check(json.loads(text), places, f"spec.{path}"))
        if messages:
            del prepared.settings[section][name]
            prepared.invalid[path] = messages
    rule = prepared.authorization
    if rule is not None:
        where = "spec.traffic.authorization.policy.matchExpressions"
        messages = [
            message
            for index, expression in enumerate(rule.expressions)
            if (
                message := check_expression(
                    expression, f"{where}[{index}]", VARIABLES_BY_USE["authorization"]
                )
            )
        ]
        if messages:
            prepared.authorization = None
            prepared.invalid["traffic.authorization"] = messages
    return prepared


def _check(data: Any, places: list[tuple[_KeyPath, frozenset[str]]], prefix: str) -> Iterator[str]:
    for keys, variables in places:
        for where, expression in _find(data, keys, prefix):
            message = check_expression(expression, where, variables)
            if message is not None:
                yield message


def _find(data: Any, keys: _KeyPath, where: str) -> Iterator[tuple[str, str]]:
    if not keys:
        if isinstance(data, str):
            yield where, data
        return
    key, rest = keys[0], keys[1:]
    if key != "*":
        if isinstance(data, dict) and key in data:
            yield from _find(data[key], rest, f"{where}.{key}")
    elif isinstance(data, list):
        for index, item in enumerate(data):
            yield from _find(item, rest, f"{where}[{index}]")
    elif isinstance(data, dict):
        for name, item in sorted(data.items()):
            yield from _find(item, rest, f"{where}.{name}")
