"""agentgateway's own CEL functions: json, toJson, base64, merge, regexReplace, random, uuid."""

from __future__ import annotations

import base64
import binascii
import json
import random as _random
import re
import uuid as _uuid
from collections.abc import Mapping
from datetime import datetime, timedelta

from cel.conversions import to_string
from cel.errors import ExplicitFailure, ValueOutOfRange
from cel.values import UInt, Value, no_overload

# CEL ints are 64-bit: JSON integers beyond that stay doubles, as serde_json would keep them.
_JSON_INT_LIMIT = 2**63


def parse_json(document: Value) -> Value:
    if type(document) is bytes:
        text = document.decode(errors="replace")
    elif type(document) is str:
        text = document
    else:
        raise no_overload("json", document)
    try:
        return json.loads(text, parse_int=_json_int)
    except json.JSONDecodeError as error:
        raise ValueOutOfRange(f"invalid JSON: {error}") from None


def _json_int(text: str) -> int | float:
    value = int(text)
    return value if -_JSON_INT_LIMIT <= value < _JSON_INT_LIMIT else float(value)


def to_json(value: Value) -> str:
    return json.dumps(_jsonable(value), separators=(",", ":"), ensure_ascii=False)


def _jsonable(value: Value) -> Value:
    kind = type(value)
    if value is None or kind in (bool, int, float, str):
        return value
    if kind is UInt:
        return int(value)
    if kind is bytes:
        return base64.b64encode(value).decode()
    if kind is list or kind is tuple:
        return [_jsonable(item) for item in value]
    if isinstance(value, Mapping):
        return {to_string(key): _jsonable(item) for key, item in value.items()}
    if kind is datetime or kind is timedelta:
        return to_string(value)
    raise no_overload("toJson", value)


def base64_encode(value: Value) -> str:
    if type(value) is str:
        value = value.encode()
    if type(value) is not bytes:
        raise no_overload("base64.encode", value)
    return base64.b64encode(value).decode()


def base64_decode(value: Value) -> bytes:
    if type(value) is bytes:
        value = value.decode(errors="replace")
    if type(value) is not str:
        raise no_overload("base64.decode", value)
    padded = value + "=" * (-len(value) % 4)
    try:
        return base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError):
        try:
            return base64.urlsafe_b64decode(padded)
        except (binascii.Error, ValueError):
            raise ValueOutOfRange("invalid base64") from None


def merge(left: Value, right: Value) -> dict[Value, Value]:
    if not isinstance(left, Mapping) or not isinstance(right, Mapping):
        raise no_overload("merge", left, right)
    return {**left, **right}


def regex_replace(text: Value, pattern: re.Pattern[str], replacement: str) -> str:
    if type(text) is not str:
        raise no_overload("regexReplace", text)
    try:
        return pattern.sub(replacement, text)
    except (re.error, IndexError) as error:
        raise ValueOutOfRange(f"regexReplace: {error}") from None


def random_double() -> float:
    return _random.random()


def random_uuid() -> str:
    return str(_uuid.uuid4())


def fail(message: Value = "fail() called") -> Value:
    raise ExplicitFailure(to_string(message) if type(message) is not str else message)
