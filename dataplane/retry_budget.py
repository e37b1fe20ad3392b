"""Retry budgets (GEP-3388): per cluster and per proxy worker, retries within a sliding
interval may make up at most ``percent`` of the requests sent in it (retries included),
except that ``min_retries`` retries per ``min_retry_interval`` are always allowed.

Envoy's ``retry_budget`` counts concurrent retries instead; agw's control plane puts the
GEP's exact parameters in the cluster's ``agw`` metadata, and without them the Envoy fields
are read as percent (over 10 s) and retries per second. Memory is one timestamp per request in
the window."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dataplane.errors import InvalidConfig

METADATA_NAMESPACE = "agw"
METADATA_KEY = "retryBudget"
# Envoy's defaults when retry_budget is set with its fields unset.
DEFAULT_PERCENT = 20.0
DEFAULT_MIN_RETRIES = 3
DEFAULT_INTERVAL = 10.0
DEFAULT_MIN_RETRY_INTERVAL = 1.0


@dataclass(frozen=True, slots=True)
class RetryBudgetConfig:
    percent: float
    interval: float = DEFAULT_INTERVAL
    min_retries: int = DEFAULT_MIN_RETRIES
    min_retry_interval: float = DEFAULT_MIN_RETRY_INTERVAL


def compile_retry_budget(cluster: Any) -> RetryBudgetConfig | None:
    """The budget of a Cluster proto, or None when its circuit breakers set none."""
    budget = next(
        (t.retry_budget for t in cluster.circuit_breakers.thresholds if t.HasField("retry_budget")),
        None,
    )
    if budget is None:
        return None
    exact = cluster.metadata.filter_metadata.get(METADATA_NAMESPACE)
    if exact is not None and METADATA_KEY in exact.fields:
        fields = exact.fields[METADATA_KEY].struct_value.fields
        try:
            config = RetryBudgetConfig(
                percent=float(fields["percent"].number_value),
                interval=float(fields["intervalSeconds"].number_value),
                min_retries=int(fields["minRetries"].number_value),
                min_retry_interval=float(fields["minRetryIntervalSeconds"].number_value),
            )
        except KeyError as missing:
            where = f"Cluster {cluster.name!r}"
            raise InvalidConfig(f"{where}: {METADATA_KEY} lacks {missing}") from None
        if config.interval <= 0 or config.min_retry_interval <= 0:
            raise InvalidConfig(f"Cluster {cluster.name!r}: {METADATA_KEY} intervals must be > 0")
        return config
    return RetryBudgetConfig(
        percent=(
            budget.budget_percent.value if budget.HasField("budget_percent") else DEFAULT_PERCENT
        ),
        min_retries=(
            budget.min_retry_concurrency.value
            if budget.HasField("min_retry_concurrency")
            else DEFAULT_MIN_RETRIES
        ),
    )


class RetryBudget:
    """One cluster's sliding windows on one worker."""

    __slots__ = ("config", "floor_retries", "now", "requests", "retries")

    def __init__(self, config: RetryBudgetConfig, now: Callable[[], float]) -> None:
        self.config = config
        self.now = now
        self.requests: deque[float] = deque()
        self.retries: deque[float] = deque()
        self.floor_retries: deque[float] = deque()

    def record_request(self) -> None:
        self.requests.append(self.now())

    def admit_retry(self) -> bool:
        """Whether one more retry fits; an admitted retry is counted (as a request too)."""
        now = self.now()
        config = self.config
        _expire(self.requests, now - config.interval)
        _expire(self.retries, now - config.interval)
        _expire(self.floor_retries, now - config.min_retry_interval)
        retries = len(self.retries) + 1
        sent = len(self.requests) + retries
        if retries * 100 > config.percent * sent and len(self.floor_retries) >= config.min_retries:
            return False
        self.retries.append(now)
        self.floor_retries.append(now)
        return True


def _expire(times: deque[float], before: float) -> None:
    while times and times[0] <= before:
        times.popleft()
