"""CEL's arithmetic operators: checked 64-bit integers, IEEE doubles, no implicit conversion."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from cel.errors import ValueOutOfRange
from cel.values import INT_MAX, INT_MIN, UInt, Value, checked_int, checked_uint, no_overload


def add(left: Value, right: Value) -> Value:
    kind = type(left)
    if kind is type(right):
        if kind is int:
            result = left + right
            if INT_MIN <= result <= INT_MAX:
                return result
            raise ValueOutOfRange("int overflow")
        if kind is str or kind is float or kind is bytes or kind is timedelta:
            return left + right
        if kind is list:
            return left + right
        if kind is UInt:
            return checked_uint(left + right)
    if kind is datetime and type(right) is timedelta:
        return _shift_time(left, right)
    if kind is timedelta and type(right) is datetime:
        return _shift_time(right, left)
    if kind in _LISTS and type(right) in _LISTS:
        return [*left, *right]
    raise no_overload("_+_", left, right)


_LISTS = frozenset({list, tuple})


def subtract(left: Value, right: Value) -> Value:
    kind = type(left)
    if kind is type(right):
        if kind is int:
            return checked_int(left - right)
        if kind is float or kind is timedelta:
            return left - right
        if kind is UInt:
            return checked_uint(left - right)
        if kind is datetime:
            return left - right
    if kind is datetime and type(right) is timedelta:
        return _shift_time(left, -right)
    raise no_overload("_-_", left, right)


def multiply(left: Value, right: Value) -> Value:
    kind = type(left)
    if kind is type(right):
        if kind is int:
            return checked_int(left * right)
        if kind is float:
            return left * right
        if kind is UInt:
            return checked_uint(left * right)
    raise no_overload("_*_", left, right)


def divide(left: Value, right: Value) -> Value:
    kind = type(left)
    if kind is type(right):
        if kind is float:
            return _float_divide(left, right)
        if kind is int or kind is UInt:
            if right == 0:
                raise ValueOutOfRange("division by zero")
            # CEL truncates toward zero like C, Python floors.
            quotient = abs(left) // abs(right)
            if (left < 0) != (right < 0):
                quotient = -quotient
            return checked_int(quotient) if kind is int else UInt(quotient)
    raise no_overload("_/_", left, right)


def _float_divide(left: float, right: float) -> float:
    if right != 0.0:
        return left / right
    if left == 0.0 or math.isnan(left):
        return math.nan
    return math.copysign(math.inf, left) * math.copysign(1.0, right)


def modulo(left: Value, right: Value) -> Value:
    kind = type(left)
    if kind is type(right) and (kind is int or kind is UInt):
        if right == 0:
            raise ValueOutOfRange("modulus by zero")
        # The remainder takes the dividend's sign, as in C.
        remainder = abs(left) % abs(right)
        return -remainder if left < 0 else (remainder if kind is int else UInt(remainder))
    raise no_overload("_%_", left, right)


def negate(operand: Value) -> Value:
    kind = type(operand)
    if kind is int:
        return checked_int(-operand)
    if kind is float or kind is timedelta:
        return -operand
    raise no_overload("-_", operand)


_TIME_MIN = datetime.fromisoformat("0001-01-01T00:00:00+00:00")
_TIME_MAX = datetime.fromisoformat("9999-12-31T23:59:59.999999+00:00")


def _shift_time(moment: datetime, delta: timedelta) -> datetime:
    try:
        shifted = moment + delta
    except OverflowError:
        raise ValueOutOfRange("timestamp out of range") from None
    if _TIME_MIN <= shifted <= _TIME_MAX:
        return shifted
    raise ValueOutOfRange("timestamp out of range")
