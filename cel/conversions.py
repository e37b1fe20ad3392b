"""CEL's type conversions: int, uint, double, string, bytes, bool, dyn."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from cel.errors import ValueOutOfRange
from cel.network import CIDR, IP
from cel.temporal import format_duration, format_timestamp
from cel.values import INT_MAX, INT_MIN, UINT_MAX, UInt, Value, checked_uint, no_overload


def to_int(value: Value) -> Value:
    kind = type(value)
    if kind is int:
        return value
    if kind is UInt:
        if value > INT_MAX:
            raise ValueOutOfRange("int overflow")
        return int(value)
    if kind is float:
        if math.isnan(value) or not INT_MIN <= value < INT_MAX:
            raise ValueOutOfRange("int overflow")
        return int(value)
    if kind is str:
        return _parse_int(value)
    if kind is datetime:
        return int(value.timestamp() // 1)
    raise no_overload("int", value)


def _parse_int(text: str) -> int:
    try:
        parsed = int(text, 10)
    except ValueError:
        raise ValueOutOfRange(f"cannot convert {text!r} to int") from None
    if not INT_MIN <= parsed <= INT_MAX:
        raise ValueOutOfRange("int overflow")
    return parsed


def to_uint(value: Value) -> UInt:
    kind = type(value)
    if kind is UInt:
        return UInt(value)
    if kind is int:
        return checked_uint(value)
    if kind is float:
        if math.isnan(value) or not 0 <= value <= UINT_MAX:
            raise ValueOutOfRange("uint overflow")
        return UInt(int(value))
    if kind is str:
        try:
            return checked_uint(int(value, 10))
        except ValueError:
            raise ValueOutOfRange(f"cannot convert {value!r} to uint") from None
    raise no_overload("uint", value)


def to_double(value: Value) -> Value:
    kind = type(value)
    if kind is float:
        return value
    if kind is int or kind is UInt:
        return float(value)
    if kind is str:
        try:
            return float(value)
        except ValueError:
            raise ValueOutOfRange(f"cannot convert {value!r} to double") from None
    raise no_overload("double", value)


def to_string(value: Value) -> Value:
    kind = type(value)
    if kind is str:
        return value
    if kind is bool:
        return "true" if value else "false"
    if kind is int or kind is UInt:
        return str(int(value))
    if kind is float:
        return _format_double(value)
    if kind is bytes:
        try:
            return value.decode()
        except UnicodeDecodeError:
            raise ValueOutOfRange("bytes are not valid UTF-8") from None
    if kind is datetime:
        return format_timestamp(value)
    if kind is timedelta:
        return format_duration(value)
    if kind is IP or kind is CIDR:
        return str(value)
    raise no_overload("string", value)


def _format_double(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    # Shortest round-trip digits; Python spells exponents (1e+20) as cel-go does.
    return repr(value)


def to_bytes(value: Value) -> Value:
    kind = type(value)
    if kind is bytes:
        return value
    if kind is str:
        return value.encode()
    raise no_overload("bytes", value)


def to_bool(value: Value) -> Value:
    kind = type(value)
    if kind is bool:
        return value
    if kind is str:
        if value in ("true", "True", "TRUE", "t", "1"):
            return True
        if value in ("false", "False", "FALSE", "f", "0"):
            return False
        raise ValueOutOfRange(f"cannot convert {value!r} to bool")
    raise no_overload("bool", value)


def dyn(value: Value) -> Value:
    return value
