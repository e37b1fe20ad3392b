"""XBackendTrafficPolicy (gateway.networking.x-k8s.io/v1alpha1): how a Gateway sends traffic
to a Service: retry budgets (GEP-3388) and session persistence (GEP-1619). A direct policy:
its targetRefs name Services in its own namespace."""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import Field, field_validator

from translator.model.duration import Duration, parse_duration
from translator.model.listenerset import EXPERIMENTAL_GROUP
from translator.model.meta import Model, Resource, first_duplicate, violation
from translator.model.shared import Group, Kind, ObjectName, SessionPersistence

# The CRD's bounds on the budget's interval.
_MIN_INTERVAL = 1.0
_MAX_INTERVAL = 3600.0


class LocalPolicyTargetReference(Model):
    group: Group
    kind: Kind
    name: ObjectName


class BudgetDetails(Model):
    percent: Annotated[int, Field(ge=0, le=100)] = 20
    interval: Duration = "10s"

    @field_validator("interval")
    @classmethod
    def _interval_in_range(cls, interval: str) -> str:
        if not _MIN_INTERVAL <= parse_duration(interval) <= _MAX_INTERVAL:
            raise violation("interval can not be less than 1s or greater than 1h")
        return interval


class RequestRate(Model):
    count: Annotated[int, Field(ge=0, le=1_000_000)] | None = None
    interval: Duration | None = None


class RetryConstraint(Model):
    budget: BudgetDetails = Field(default_factory=BudgetDetails)
    min_retry_rate: RequestRate = Field(
        default_factory=lambda: RequestRate(count=10, interval="1s")
    )


class BackendTrafficPolicySpec(Model):
    target_refs: tuple[LocalPolicyTargetReference, ...] = Field(min_length=1, max_length=16)
    retry_constraint: RetryConstraint | None = None
    session_persistence: SessionPersistence | None = None

    @field_validator("target_refs")
    @classmethod
    def _targets_distinct(
        cls, refs: tuple[LocalPolicyTargetReference, ...]
    ) -> tuple[LocalPolicyTargetReference, ...]:
        duplicate = first_duplicate((ref.group, ref.kind, ref.name) for ref in refs)
        if duplicate is not None:
            raise violation(f"targetRefs must be unique: {duplicate} repeats")
        return refs


class XBackendTrafficPolicy(Resource):
    GROUP: ClassVar[str] = EXPERIMENTAL_GROUP
    KIND: ClassVar[str] = "XBackendTrafficPolicy"

    spec: BackendTrafficPolicySpec
