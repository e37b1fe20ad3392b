"""Request and response header mutations (``headers_to_add`` / ``headers_to_remove``).

Envoy evaluates each level (cluster weight, route, virtual host, route configuration, in that
order) as "remove, then add". The compiler flattens the levels into one tuple of operations per
route and per cluster weight, so the request path applies a ready list.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from enum import IntEnum
from typing import Any

from dataplane.errors import InvalidConfig, UnsupportedValue

Headers = list[tuple[bytes, bytes]]


class HeaderOp(IntEnum):
    REMOVE = 0
    APPEND = 1  # APPEND_IF_EXISTS_OR_ADD: one more header line
    ADD_IF_ABSENT = 2
    OVERWRITE_OR_ADD = 3
    OVERWRITE_IF_EXISTS = 4


HeaderOps = tuple[tuple[HeaderOp, bytes, bytes], ...]
NO_OPS: HeaderOps = ()

_ACTIONS = {
    "APPEND_IF_EXISTS_OR_ADD": HeaderOp.APPEND,
    "ADD_IF_ABSENT": HeaderOp.ADD_IF_ABSENT,
    "OVERWRITE_IF_EXISTS_OR_ADD": HeaderOp.OVERWRITE_OR_ADD,
    "OVERWRITE_IF_EXISTS": HeaderOp.OVERWRITE_IF_EXISTS,
}
# Only literal values: "%%" is an escaped percent; any other "%" starts a formatter command.
_FORMATTER = re.compile(r"%(?!%)")


def _literal(value: str, path: str) -> bytes:
    if "%" in value:
        if _FORMATTER.search(value.replace("%%", "")):
            raise UnsupportedValue(f"{path}.header.value (formatter commands)", value)
        value = value.replace("%%", "%")
    return value.encode("latin-1")


def compile_level(
    to_add: Sequence[Any], to_remove: Iterable[str], path: str, *, is_request: bool
) -> HeaderOps:
    """One level's mutations: removals first, then additions in order."""
    ops: list[tuple[HeaderOp, bytes, bytes]] = []
    for name in to_remove:
        ops.append((HeaderOp.REMOVE, _checked_name(name, path, is_request), b""))
    for option in to_add:
        header = option.header
        key = _checked_name(header.key, path, is_request)
        value = bytes(header.raw_value) if header.raw_value else _literal(header.value, path)
        if not value and not option.keep_empty_value:
            continue
        ops.append((_action(option, path), key, value))
    return tuple(ops)


def _checked_name(name: str, path: str, is_request: bool) -> bytes:
    lowered = name.lower()
    if not lowered or lowered.startswith(":") or (is_request and lowered == "host"):
        raise InvalidConfig(f"{path}: header {name!r} may not be modified")
    return lowered.encode("latin-1")


def _action(option: Any, path: str) -> HeaderOp:
    if option.HasField("append"):
        return HeaderOp.APPEND if option.append.value else HeaderOp.OVERWRITE_OR_ADD
    action_name = (
        option.DESCRIPTOR.fields_by_name["append_action"]
        .enum_type.values_by_number[option.append_action]
        .name
    )
    action = _ACTIONS.get(action_name)
    if action is None:
        raise UnsupportedValue(f"{path}.append_action", action_name)
    return action


def apply_ops(ops: HeaderOps, headers: Headers) -> None:
    """Apply mutations in place; names in ``headers`` are lower-case."""
    for op, name, value in ops:
        if op is HeaderOp.APPEND:
            headers.append((name, value))
            continue
        exists = any(key == name for key, _ in headers)
        if op is HeaderOp.REMOVE:
            if exists:
                headers[:] = [item for item in headers if item[0] != name]
        elif op is HeaderOp.ADD_IF_ABSENT:
            if not exists:
                headers.append((name, value))
        elif op is HeaderOp.OVERWRITE_OR_ADD or exists:
            if exists:
                headers[:] = [item for item in headers if item[0] != name]
            headers.append((name, value))


def mutated_lines(ops: HeaderOps, lines: list[bytes]) -> list[bytes]:
    """Apply mutations to serialized ``name: value\\r\\n`` lines (names lower-case)."""
    headers: Headers = []
    for line in lines:
        name, _, value = line.partition(b": ")
        headers.append((name, value[:-2]))
    apply_ops(ops, headers)
    return [name + b": " + value + b"\r\n" for name, value in headers]
