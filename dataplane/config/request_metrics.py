"""agw's request-metrics filter (``agw.filters.http.metrics``, AgentgatewayPolicy
``frontend.metrics``) compiled once per configuration: each label's CEL program.

Label names are made valid Prometheus names here (other characters become ``_``), and a name
that repeats an earlier one, or the ``listener`` label the proxy adds, gets a ``_`` suffix, so
the exposition never carries two labels of one name."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from agwproto.agw.filters.v1alpha1 import metrics_pb2
from cel import CompileError, Program, compile_expression
from dataplane.errors import InvalidConfig

REQUEST_METRICS_FILTER = "agw.filters.http.metrics"
LISTENER_LABEL = "listener"
_TYPE = "type.googleapis.com/agw.filters.v1alpha1.RequestMetrics"
_INVALID = re.compile(r"[^a-zA-Z0-9_]")


@dataclass(frozen=True, slots=True)
class MetricLabelProgram:
    name: str
    source: str
    # None: the source did not compile; the label's value is then "".
    program: Program | None


@dataclass(frozen=True, slots=True)
class RequestMetricsConfig:
    labels: tuple[MetricLabelProgram, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(label.name for label in self.labels)


def is_request_metrics_filter(http_filter: Any) -> bool:
    return bool(http_filter.name == REQUEST_METRICS_FILTER)


def compile_request_metrics(http_filter: Any) -> RequestMetricsConfig:
    if http_filter.typed_config.type_url != _TYPE:
        raise InvalidConfig(f"{REQUEST_METRICS_FILTER}: typed_config must be {_TYPE}")
    config = metrics_pb2.RequestMetrics()
    http_filter.typed_config.Unpack(config)
    taken = {LISTENER_LABEL}
    labels = []
    for label in config.labels:
        name = label_name(label.name, taken)
        taken.add(name)
        labels.append(MetricLabelProgram(name, label.expression, _compile(label.expression)))
    return RequestMetricsConfig(tuple(labels))


def label_name(name: str, taken: set[str]) -> str:
    """``name`` as a Prometheus label name not in ``taken``."""
    valid = _INVALID.sub("_", name) or "_"
    if valid[0].isdigit() or valid.startswith("__"):
        valid = "_" + valid.lstrip("_")
    while valid in taken:
        valid += "_"
    return valid


def _compile(source: str) -> Program | None:
    try:
        return compile_expression(source)
    except CompileError:
        return None
