"""Retry budgets (GEP-3388) in the agw proxy.

Covers the sliding windows with an injected clock (the percentage counts retries among all
requests in the interval; the floor of retries per interval; both windows slide), reading the
budget from a Cluster (the exact GEP parameters from agw metadata, Envoy's fields alone
otherwise), and a proxy whose retries to a failing backend stop at the budget while a cluster
without one retries every request. Leaves out HTTP/2 upstreams (same ``can_retry`` path) and
several workers (each keeps its own windows, as the GEP allows).
"""

from __future__ import annotations

from typing import Any

from envoy.config.route.v3 import route_components_pb2
from google.protobuf import struct_pb2

from dataplane.config.cluster import compile_cluster
from dataplane.proxy import Proxy
from dataplane.retry_budget import RetryBudget, RetryBudgetConfig
from tests.dataplane import resources as r
from tests.dataplane.client import fetch, request_bytes
from tests.dataplane.conftest import Backends, Serve


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_retries_may_make_up_the_budget_percent_of_requests() -> None:
    clock = FakeClock()
    budget = RetryBudget(RetryBudgetConfig(percent=20, interval=10, min_retries=0), clock)
    admitted = 0
    for _ in range(40):
        budget.record_request()
        admitted += budget.admit_retry()
    # r retries among 40 + r requests: r / (40 + r) <= 20% -> r <= 10.
    assert admitted == 10
    clock.now += 10  # everything left the window: the budget starts afresh
    budget.record_request()
    assert not budget.admit_retry()
    for _ in range(3):
        budget.record_request()
    assert budget.admit_retry()


def test_the_floor_allows_retries_the_percentage_would_not() -> None:
    clock = FakeClock()
    config = RetryBudgetConfig(percent=0, interval=10, min_retries=2, min_retry_interval=1)
    budget = RetryBudget(config, clock)
    budget.record_request()
    assert [budget.admit_retry() for _ in range(3)] == [True, True, False]
    clock.now += 0.5
    assert not budget.admit_retry()
    clock.now += 0.6  # the first floor window is over; the budget window is not
    assert [budget.admit_retry() for _ in range(3)] == [True, True, False]


def budget_cluster(name: str, with_metadata: bool = True) -> Any:
    cluster = r.cluster(name)
    threshold = cluster.circuit_breakers.thresholds.add()
    threshold.retry_budget.budget_percent.value = 25.0
    threshold.retry_budget.min_retry_concurrency.value = 0
    if with_metadata:
        exact = struct_pb2.Struct()
        exact.update(
            {"percent": 25, "intervalSeconds": 3600, "minRetries": 0, "minRetryIntervalSeconds": 1}
        )
        cluster.metadata.filter_metadata["agw"].fields["retryBudget"].struct_value.CopyFrom(exact)
    return cluster


def test_cluster_budget_from_metadata_or_envoy_fields() -> None:
    exact = compile_cluster(budget_cluster("a"), r.load_assignment("a")).retry_budget
    assert exact == RetryBudgetConfig(25, 3600, 0, 1)
    envoy_only = compile_cluster(budget_cluster("b", False), r.load_assignment("b")).retry_budget
    assert envoy_only == RetryBudgetConfig(25, 10, 0, 1)
    assert compile_cluster(r.cluster("c"), r.load_assignment("c")).retry_budget is None


def retrying_route(cluster: str, prefix: str) -> Any:
    route = r.to_cluster(cluster, prefix)
    policy = route_components_pb2.RetryPolicy(
        retry_on="retriable-status-codes", retriable_status_codes=[503]
    )
    policy.num_retries.value = 3
    policy.retry_back_off.base_interval.FromMilliseconds(1)
    route.route.retry_policy.CopyFrom(policy)
    return route


async def test_retries_to_a_failing_backend_stop_at_the_budget(
    proxy: Proxy, serve: Serve, backends: Backends
) -> None:
    limited, unlimited = await backends("limited"), await backends("unlimited")
    limited.fail_first = unlimited.fail_first = 1000
    address = await serve(
        retrying_route("limited", "/limited"),
        retrying_route("unlimited", "/unlimited"),
        clusters={"limited": [limited], "unlimited": [unlimited]},
        cluster_protos=[budget_cluster("limited")],
    )
    for path in ("/limited", "/unlimited"):
        for _ in range(12):
            response = await fetch(*address, request_bytes("GET", path))
            assert response.status == 503
    assert len(unlimited.received) == 12 * 4
    # r / (12 + r) <= 25% -> at most 4 retries.
    assert len(limited.received) == 12 + 4
