"""Whether a live object already holds what agw rendered.

The API server adds defaults (a container's terminationMessagePath, a Service's
sessionAffinity) and rewrites some values in canonical form (``0.5`` CPU reads back as
``500m``, an integer quantity as a string). "Rendered is a subset of live, values compared
as the API server would" is what tells a real change from those.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

_QUANTITY = re.compile(r"^([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))([eE][+-]?[0-9]+|[a-zA-Z]*)$")
_SUFFIXES = {
    "": Decimal(1),
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
    **{
        suffix: Decimal(1024**power)
        for power, suffix in enumerate(("Ki", "Mi", "Gi", "Ti", "Pi", "Ei"), 1)
    },
}


def is_subset(wanted: Any, live: Any) -> bool:
    """Maps: every wanted key present with a matching value. Lists: same length, items
    matching in order. Scalars: equal, or the same quantity."""
    if isinstance(wanted, dict):
        return isinstance(live, dict) and all(
            key in live and is_subset(value, live[key]) for key, value in wanted.items()
        )
    if isinstance(wanted, list):
        return (
            isinstance(live, list)
            and len(wanted) == len(live)
            and all(is_subset(a, b) for a, b in zip(wanted, live, strict=True))
        )
    return bool(wanted == live) or _same_quantity(wanted, live)


def quantity(value: Any) -> Decimal | None:
    """A Kubernetes quantity's value, or None when ``value`` is not one."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        return None
    match = _QUANTITY.fullmatch(str(value))
    if match is None:
        return None
    number, suffix = match.groups()
    try:
        if suffix[:1] in ("e", "E"):
            return Decimal(number + suffix)
        if suffix not in _SUFFIXES:
            return None
        return Decimal(number) * _SUFFIXES[suffix]
    except InvalidOperation:
        return None


def _same_quantity(wanted: Any, live: Any) -> bool:
    # Plain strings that are not quantities ("TCP") compared equal above or not at all.
    left, right = quantity(wanted), quantity(live)
    return left is not None and right is not None and left == right
