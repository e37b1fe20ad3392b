"""CEL values as plain Python objects, and the operators CEL defines on them.

int is ``int`` (64-bit checked), uint is ``UInt``, double ``float``, bool ``bool``, string
``str``, bytes ``bytes``, null ``None``, list ``list``, map ``dict`` (or any ``Mapping``, such
as the lazy views of the activation), timestamp ``datetime`` (aware, UTC), duration
``timedelta``. Equality is heterogeneous across numeric types as in the current CEL spec:
``1 == 1u`` and ``1 == 1.0`` are true, values of unrelated types are simply unequal.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from cel.errors import NoSuchKey, NoSuchOverload, ValueOutOfRange

INT_MIN = -(2**63)
INT_MAX = 2**63 - 1
UINT_MAX = 2**64 - 1

# Any CEL value; kept as Any because lists and maps nest arbitrarily and lazy views are Mappings.
Value = Any


class UInt(int):
    """CEL's uint: a distinct type so that ``type`` dispatch can tell it from int."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"{int(self)}u"


def type_name(value: Value) -> str:
    kind = type(value)
    if kind is bool:
        return "bool"
    if kind is int:
        return "int"
    if kind is UInt:
        return "uint"
    if kind is float:
        return "double"
    if kind is str:
        return "string"
    if kind is bytes:
        return "bytes"
    if value is None:
        return "null_type"
    if kind is list or kind is tuple:
        return "list"
    if isinstance(value, Mapping):
        return "map"
    if kind is datetime:
        return "google.protobuf.Timestamp"
    if kind is timedelta:
        return "google.protobuf.Duration"
    return kind.__name__


_map_types: set[type] = {dict}


def is_map(value: Value) -> bool:
    """``isinstance(value, Mapping)`` without the ABC machinery on the hot path."""
    kind = type(value)
    if kind in _map_types:
        return True
    if isinstance(value, Mapping):
        _map_types.add(kind)
        return True
    return False


def no_overload(operator: str, *operands: Value) -> NoSuchOverload:
    kinds = ", ".join(type_name(operand) for operand in operands)
    return NoSuchOverload(f"no such overload: {operator}({kinds})")


def is_number(value: Value) -> bool:
    kind = type(value)
    return kind is int or kind is float or kind is UInt


def checked_int(value: int) -> int:
    if INT_MIN <= value <= INT_MAX:
        return value
    raise ValueOutOfRange("int overflow")


def checked_uint(value: int) -> UInt:
    if 0 <= value <= UINT_MAX:
        return UInt(value)
    raise ValueOutOfRange("uint overflow")


def equals(left: Value, right: Value) -> bool:
    left_kind = type(left)
    if left_kind is type(right) and left_kind in _SCALARS:
        return bool(left == right)
    if is_number(left) and is_number(right):
        return bool(left == right)
    if left_kind in _SEQUENCES and type(right) in _SEQUENCES:
        return len(left) == len(right) and all(map(equals, left, right))
    if is_map(left) and is_map(right):
        return _maps_equal(left, right)
    if left is None or right is None:
        return left is right
    if left_kind is type(right):
        return bool(left == right)
    return False


_SCALARS = frozenset({str, int, float, bool, bytes, UInt, datetime, timedelta})
_SEQUENCES = frozenset({list, tuple})


def _maps_equal(left: Mapping[Any, Value], right: Mapping[Any, Value]) -> bool:
    if len(left) != len(right):
        return False
    for key, value in left.items():
        if key not in right or not equals(value, right[key]):
            return False
    return True


def compare(operator: str, left: Value, right: Value) -> int:
    """-1, 0 or 1; numbers compare across int, uint and double, other types only with their own."""
    left_kind = type(left)
    if (left_kind is type(right) and left_kind in _ORDERED) or (
        is_number(left) and is_number(right)
    ):
        return int(left > right) - int(left < right)
    raise no_overload(operator, left, right)


_ORDERED = frozenset({str, int, float, bool, bytes, UInt, datetime, timedelta})


def contains(container: Value, element: Value) -> bool:
    """CEL's ``in``: list membership by CEL equality, map membership of keys."""
    kind = type(container)
    if kind is list or kind is tuple:
        return any(equals(element, item) for item in container)
    if is_map(container):
        try:
            return element in container
        except TypeError:
            return False
    raise no_overload("in", element, container)


def index(container: Value, key: Value) -> Value:
    kind = type(container)
    if kind is list or kind is tuple:
        if type(key) is bool or not is_number(key) or key != int(key):
            raise no_overload("_[_]", container, key)
        position = int(key)
        if not 0 <= position < len(container):
            raise ValueOutOfRange(f"index {position} out of range for list of {len(container)}")
        return container[position]
    if is_map(container):
        try:
            return container[key]
        except (KeyError, TypeError):
            raise NoSuchKey(f"no such key: {key!r}") from None
    raise no_overload("_[_]", container, key)


def select(target: Value, field: str) -> Value:
    """``target.field``: a map key or an object field."""
    # Maps and views are the only CEL values subscriptable by a string; the rest raise
    # TypeError, which saves the type test on the hot path.
    try:
        return target[field]
    except KeyError:
        raise NoSuchKey(f"no such key: {field!r}") from None
    except TypeError:
        raise NoSuchOverload(f"cannot select field {field!r} from {type_name(target)}") from None


def has_field(target: Value, field: str) -> bool:
    if is_map(target):
        return field in target
    raise NoSuchOverload(f"has() cannot test field {field!r} of {type_name(target)}")


def truth(value: Value, operator: str) -> bool:
    if type(value) is bool:
        return value
    raise no_overload(operator, value)
