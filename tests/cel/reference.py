"""cel-python's own tree-walking evaluator as the reference, and values put in one shape.

Results are compared as (type name, plain value) so that ``IntType(1)`` from celpy and ``1``
from agw compare equal while ``1`` and ``1u`` or ``true`` and ``1`` do not. Any error is
``("error", None)``: the two engines name their errors differently.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import celpy
from celpy import celtypes
from celpy.adapter import json_to_cel
from celpy.evaluation import CELEvalError

from cel import Activation, EvaluationError, UInt, compile_expression

Shape = tuple[str, Any]
ERROR: Shape = ("error", None)

_environment = celpy.Environment()

_CELPY_NAMES: list[tuple[type, str]] = [
    (celtypes.BoolType, "bool"),
    (celtypes.UintType, "uint"),
    (celtypes.IntType, "int"),
    (celtypes.DoubleType, "double"),
    (celtypes.StringType, "string"),
    (celtypes.BytesType, "bytes"),
    (celtypes.TimestampType, "timestamp"),
    (celtypes.DurationType, "duration"),
]


def shape_of_reference(value: Any) -> Shape:
    if value is None:
        return ("null", None)
    for kind, name in _CELPY_NAMES:
        if isinstance(value, kind):
            return (name, _plain(name, value))
    if isinstance(value, list):
        return ("list", tuple(shape_of_reference(item) for item in value))
    if isinstance(value, dict):
        return ("map", _map_shape(value, shape_of_reference))
    # celpy sometimes returns plain Python values (a float product, for one).
    return shape_of_agw(value)


def shape_of_agw(value: Any) -> Shape:
    if value is None:
        return ("null", None)
    kind = type(value)
    names = {bool: "bool", UInt: "uint", int: "int", float: "double", str: "string"}
    names |= {bytes: "bytes", datetime: "timestamp", timedelta: "duration"}
    if kind in names:
        return (names[kind], _plain(names[kind], value))
    if kind is list:
        return ("list", tuple(shape_of_agw(item) for item in value))
    if isinstance(value, Mapping):
        return ("map", _map_shape(value, shape_of_agw))
    raise TypeError(f"unexpected agw value {value!r}")


def _plain(name: str, value: Any) -> Any:
    converters = {"bool": bool, "uint": int, "int": int, "double": float, "string": str}
    converters |= {"bytes": bytes}
    convert = converters.get(name)
    return convert(value) if convert else value


def _map_shape(value: Mapping[Any, Any], shape: Any) -> frozenset[tuple[Shape, Shape]]:
    return frozenset((shape(key), shape(item)) for key, item in value.items())


def reference(expression: str, metadata: Mapping[str, Any] | None = None) -> Shape:
    program = _environment.program(_environment.compile(expression))
    context = {} if metadata is None else {"metadata": json_to_cel(dict(metadata))}
    try:
        result = program.evaluate(context)
    except CELEvalError:
        return ERROR
    if isinstance(result, CELEvalError):
        return ERROR
    return shape_of_reference(result)


def agw(expression: str, metadata: Mapping[str, Any] | None = None) -> Shape:
    program = compile_expression(expression)
    try:
        result = program.evaluate(Activation(metadata=metadata))
    except EvaluationError:
        return ERROR
    return shape_of_agw(result)
