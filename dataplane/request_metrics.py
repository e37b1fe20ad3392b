"""Count a finished request under the labels of its chain's request-metrics filter
(AgentgatewayPolicy ``frontend.metrics``), in ``ProxyStats.labelled_requests``.

Each label is a CEL expression over what the finished exchange knows (``request``,
``response`` as its status, ``source``, ``jwt``, ``backend``...); an expression that fails,
or yields no string, number or boolean, gives "". Cardinality is bounded per worker: once
``MAX_LABEL_SETS`` distinct label sets exist, a request with a new set is counted with every
value replaced by ``"overflow"`` (the listener label is kept), so a label fed from, say, a
client-chosen header cannot grow the proxy's memory without limit."""

from __future__ import annotations

from cel import Activation, EvaluationError
from dataplane.config.request_metrics import MetricLabelProgram, RequestMetricsConfig
from dataplane.stats import ProxyStats

MAX_LABEL_SETS = 1000
OVERFLOW = "overflow"


def count_labelled_request(
    stats: ProxyStats, listener: str, config: RequestMetricsConfig, activation: Activation
) -> None:
    """Count one finished request; ``activation`` is what its labels' CEL sees
    (``dataplane.access_line.finished_request``)."""
    values = tuple((label.name, _value(label, activation)) for label in config.labels)
    key = (listener, values)
    counts = stats.labelled_requests
    if key not in counts and len(counts) >= MAX_LABEL_SETS:
        key = (listener, tuple((name, OVERFLOW) for name, _ in values))
    counts[key] = counts.get(key, 0) + 1


def _value(label: MetricLabelProgram, activation: Activation) -> str:
    if label.program is None:
        return ""
    try:
        value = label.program.evaluate(activation)
    except EvaluationError:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    return ""
