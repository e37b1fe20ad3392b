"""XBackendTrafficPolicy ``retryConstraint`` (GEP-3388) to an IR retry budget."""

from __future__ import annotations

from translator import ir
from translator.model.backendtrafficpolicy import RetryConstraint
from translator.model.duration import parse_duration

# The CRD defaults minRetryRate to 10 per 1s; an interval left out means 1s.
_DEFAULT_MIN_INTERVAL = "1s"


def retry_budget(constraint: RetryConstraint) -> ir.RetryBudget:
    rate = constraint.min_retry_rate
    return ir.RetryBudget(
        percent=constraint.budget.percent,
        interval_seconds=parse_duration(constraint.budget.interval),
        min_retries=rate.count or 0,
        min_retry_interval_seconds=parse_duration(rate.interval or _DEFAULT_MIN_INTERVAL),
    )
