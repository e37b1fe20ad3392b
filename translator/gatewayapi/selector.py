"""Kubernetes label selectors (matchLabels and matchExpressions)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def selector_matches(selector: Any, labels: Mapping[str, str]) -> bool:
    """``selector`` is a LabelSelector model; an empty selector matches everything."""
    for key, value in (selector.match_labels or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.match_expressions or ():
        if not _expression_matches(
            expression.key, expression.operator, expression.values or (), labels
        ):
            return False
    return True


def _expression_matches(key: str, operator: str, values: Any, labels: Mapping[str, str]) -> bool:
    if operator == "In":
        return key in labels and labels[key] in values
    if operator == "NotIn":
        return key not in labels or labels[key] not in values
    if operator == "Exists":
        return key in labels
    if operator == "DoesNotExist":
        return key not in labels
    return False
