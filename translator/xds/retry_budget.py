"""Retry budgets (GEP-3388) on Envoy clusters.

Envoy's ``retry_budget`` bounds *concurrent* retries to a percentage of *active* requests;
GEP-3388 bounds retries *per interval* to a percentage of requests in that interval. The
percentage maps as is. The floor maps from a rate to a concurrency: ``count`` retries per
``interval`` become ``count`` concurrent retries, which is exact when a retry takes the whole
interval and lets through more otherwise, so the floor is never stricter than the user's.
Envoy ignores the budget's interval. agw's own proxy reads the exact parameters from the
cluster's ``agw`` metadata and enforces the GEP's sliding window."""

from __future__ import annotations

from envoy.config.cluster.v3 import circuit_breaker_pb2
from google.protobuf import struct_pb2
from google.protobuf.message import Message

from translator.ir import RetryBudget
from translator.xds.metadata import NAMESPACE

# The key under the cluster's "agw" filter metadata.
METADATA_KEY = "retryBudget"


def apply_retry_budget(cluster: Message, budget: RetryBudget) -> None:
    thresholds = circuit_breaker_pb2.CircuitBreakers.Thresholds()
    thresholds.retry_budget.budget_percent.value = float(budget.percent)
    thresholds.retry_budget.min_retry_concurrency.value = budget.min_retries
    cluster.circuit_breakers.thresholds.append(thresholds)
    exact = struct_pb2.Struct()
    exact.update(
        {
            "percent": budget.percent,
            "intervalSeconds": budget.interval_seconds,
            "minRetries": budget.min_retries,
            "minRetryIntervalSeconds": budget.min_retry_interval_seconds,
        }
    )
    cluster.metadata.filter_metadata[NAMESPACE].fields[METADATA_KEY].struct_value.CopyFrom(exact)
