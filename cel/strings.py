"""String, bytes and collection functions: CEL's standard library and cel-go's strings extension."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from cel.errors import ValueOutOfRange
from cel.values import Value, compare, is_number, no_overload


def size(value: Value) -> int:
    kind = type(value)
    if kind is str or kind is bytes or kind is list or kind is tuple or kind is dict:
        return len(value)
    if isinstance(value, Mapping):
        return len(value)
    raise no_overload("size", value)


def _strings(name: str, *values: Value) -> None:
    for value in values:
        if type(value) is not str:
            raise no_overload(name, *values)


def contains_string(text: Value, part: Value) -> bool:
    _strings("contains", text, part)
    return str.__contains__(text, part)


def starts_with(text: Value, prefix: Value) -> bool:
    _strings("startsWith", text, prefix)
    return str.startswith(text, prefix)


def ends_with(text: Value, suffix: Value) -> bool:
    _strings("endsWith", text, suffix)
    return str.endswith(text, suffix)


def lower_ascii(text: Value) -> str:
    _strings("lowerAscii", text)
    return "".join(c.lower() if c.isascii() else c for c in text)


def upper_ascii(text: Value) -> str:
    _strings("upperAscii", text)
    return "".join(c.upper() if c.isascii() else c for c in text)


def trim(text: Value) -> str:
    _strings("trim", text)
    return str.strip(text)


def char_at(text: Value, position: Value) -> str:
    _strings("charAt", text)
    if type(position) is not int:
        raise no_overload("charAt", text, position)
    if not 0 <= position <= len(text):
        raise ValueOutOfRange(f"charAt index {position} out of range")
    return str(text[position : position + 1])


def index_of(text: Value, part: Value, start: Value = 0) -> int:
    _strings("indexOf", text, part)
    if type(start) is not int or not 0 <= start <= len(text):
        raise ValueOutOfRange(f"indexOf start {start!r} out of range")
    return str.find(text, part, start)


def last_index_of(text: Value, part: Value, end: Value | None = None) -> int:
    _strings("lastIndexOf", text, part)
    if end is None:
        return str.rfind(text, part)
    if type(end) is not int or not 0 <= end < max(len(text), 1):
        raise ValueOutOfRange(f"lastIndexOf position {end!r} out of range")
    return str.rfind(text, part, 0, end + len(part))


def replace(text: Value, old: Value, new: Value, limit: Value = -1) -> str:
    _strings("replace", text, old, new)
    if type(limit) is not int:
        raise no_overload("replace", text, old, new, limit)
    return str.replace(text, old, new, limit)


def split(text: Value, separator: Value, limit: Value = -1) -> list[str]:
    _strings("split", text, separator)
    if type(limit) is not int:
        raise no_overload("split", text, separator, limit)
    if limit == 0:
        return []
    if separator == "":
        parts = list(text)
        return (
            parts if limit < 0 or limit >= len(parts) else [*parts[: limit - 1], text[limit - 1 :]]
        )
    return str.split(text, separator, limit - 1 if limit > 0 else -1)


def substring(text: Value, start: Value, end: Value | None = None) -> str:
    _strings("substring", text)
    stop = len(text) if end is None else end
    if type(start) is not int or type(stop) is not int or not 0 <= start <= stop <= len(text):
        raise ValueOutOfRange(f"substring range [{start!r}, {stop!r}) out of range")
    return str(text[start:stop])


def strip_prefix(text: Value, prefix: Value) -> str:
    _strings("stripPrefix", text, prefix)
    return str.removeprefix(text, prefix)


def strip_suffix(text: Value, suffix: Value) -> str:
    _strings("stripSuffix", text, suffix)
    return str.removesuffix(text, suffix)


def join(items: Value, separator: Value = "") -> str:
    if type(items) is not list or type(separator) is not str:
        raise no_overload("join", items, separator)
    for item in items:
        if type(item) is not str:
            raise no_overload("join", items, separator)
    return separator.join(items)


def extreme(name: str, sign: int) -> Callable[..., Value]:
    """``max`` / ``min`` over arguments or one list argument, numbers compared across types."""

    def pick(*values: Value) -> Value:
        candidates = values[0] if len(values) == 1 and type(values[0]) is list else values
        if not candidates:
            raise ValueOutOfRange(f"{name} of an empty list")
        best = candidates[0]
        for candidate in candidates[1:]:
            if not is_number(candidate) and type(candidate) is not type(best):
                raise no_overload(name, best, candidate)
            if compare(name, candidate, best) == sign:
                best = candidate
        return best

    return pick
