"""AgentgatewayPolicy ``frontend.metrics``: agw's request-metrics filter (typed config from
proto/agw/filters/v1alpha1/metrics.proto), placed just before the router so it sees every
request the connection manager answers. Stage 1 keeps the labels only for gateways the agw
proxy serves: Envoy has no factory for the filter."""

from __future__ import annotations

from typing import Any

from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)

from agwproto.agw.filters.v1alpha1 import metrics_pb2
from translator.ir.connection import MetricLabel
from translator.xds.extensions import pack

REQUEST_METRICS_FILTER = "agw.filters.http.metrics"


def add_request_metrics_filter(manager: Any, labels: tuple[MetricLabel, ...]) -> None:
    """Put the filter in ``manager`` (an HttpConnectionManager) before its router."""
    config = metrics_pb2.RequestMetrics(
        labels=[
            metrics_pb2.RequestMetricLabel(name=label.name, expression=label.expression)
            for label in labels
        ]
    )
    built = hcm_pb2.HttpFilter(name=REQUEST_METRICS_FILTER, typed_config=pack(config))
    filters = list(manager.http_filters)
    del manager.http_filters[:]
    manager.http_filters.extend([*filters[:-1], built, *filters[-1:]])
