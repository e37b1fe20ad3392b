"""Canonical YAML for translator output: sorted keys, empty values dropped, secrets redacted,
no times. Golden files and ``agw translate`` both use it, so what a golden file shows is what
a user sees."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from enum import Enum
from typing import Any

import yaml

from translator import ir

REDACTED = "[redacted]"
# Union members are written under their kind so a reader can tell them apart.
_TAGGED = {
    ir.ForwardAction: "forward",
    ir.RedirectAction: "redirect",
    ir.DirectResponseAction: "directResponse",
}
_SECRET_FIELDS = frozenset({"private_key"})

_Dumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def to_data(value: Any) -> Any:
    """Plain data (dicts, lists, scalars) from IR dataclasses; camelCase keys."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        data: dict[str, Any] = {}
        for f in dataclasses.fields(value):
            item = getattr(value, f.name)
            if (
                item is None
                or item == ()
                or item == ""
                or (isinstance(item, ir.HeaderMutation) and item.is_empty())
            ):
                continue
            data[_camel(f.name)] = REDACTED if f.name in _SECRET_FIELDS else to_data(item)
        tag = _TAGGED.get(type(value))
        return {tag: data} if tag else data
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): to_data(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_data(v) for v in value]
    return value


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def dump_yaml(data: Any) -> str:
    return yaml.dump(
        data,
        Dumper=_Dumper,
        sort_keys=True,
        default_flow_style=False,
        allow_unicode=True,
        width=100,
    )
