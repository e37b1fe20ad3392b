"""The proxy's side of AgentgatewayPolicy ``frontend.metrics``: agw's request-metrics filter.

Covers: the agwpolicy-metrics golden case compiles into the listener's request-metrics config
(label names made valid and unique); requests through a real proxy are counted by listener and
CEL label values (a failing expression gives ""); more than ``MAX_LABEL_SETS`` label sets
collapse into "overflow"; worker snapshots carry and add the counts; /metrics exposes
``agw_requests_labelled_total`` with escaped values. Leaves out Envoy (the translator never
emits the filter for it; e2e/test_agw_policy_metrics.py checks the status note) and the admin
server's HTTP layer (tests/dataplane/test_proxy_admin.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from agwproto.agw.filters.v1alpha1 import metrics_pb2
from dataplane.admin import labelled_requests_metric
from dataplane.cel.facts import StatusFacts, request_variables
from dataplane.config import XdsResources, compile_config
from dataplane.config.request_metrics import (
    REQUEST_METRICS_FILTER,
    RequestMetricsConfig,
    label_name,
)
from dataplane.proxy import Proxy
from dataplane.request import RequestHead
from dataplane.request_metrics import MAX_LABEL_SETS, OVERFLOW, count_labelled_request
from dataplane.stats import ProxyStats
from dataplane.workers.counters import CounterTotals, Snapshot, take_snapshot
from tests.dataplane import resources as r
from tests.dataplane.backend import EchoBackend
from tests.dataplane.client import fetch, get
from tests.dataplane.conftest import PROXY_HOST, Backends
from tests.dataplane.test_policy_conn import TESTDATA


def metrics_listener(labels: dict[str, str]) -> Any:
    listener = r.listener("l", PROXY_HOST, 0, "rc")
    manager = r.http_manager("rc")
    config = metrics_pb2.RequestMetrics(
        labels=[metrics_pb2.RequestMetricLabel(name=k, expression=v) for k, v in labels.items()]
    )
    router = list(manager.http_filters)[-1]
    del manager.http_filters[:]
    metrics = manager.http_filters.add(name=REQUEST_METRICS_FILTER)
    metrics.typed_config.Pack(config)
    manager.http_filters.add().CopyFrom(router)
    listener.filter_chains[0].filters[0].typed_config.Pack(manager)
    return listener


def golden_metrics() -> RequestMetricsConfig | None:
    """The agwpolicy-metrics case's agw gateway, compiled by the proxy."""
    from translator.loader import load_paths
    from translator.translate import translate
    from translator.xds import type_urls

    result = translate(load_paths([TESTDATA / "agwpolicy-metrics.in.yaml"]).resource_set())
    by_type = dict(result.xds["default/gw"].by_type_url())
    config = compile_config(
        XdsResources(
            listeners=by_type.get(type_urls.LISTENER, {}),
            route_configs=by_type.get(type_urls.ROUTE_CONFIGURATION, {}),
            clusters=by_type.get(type_urls.CLUSTER, {}),
            load_assignments=by_type.get(type_urls.CLUSTER_LOAD_ASSIGNMENT, {}),
            secrets=by_type.get(type_urls.SECRET, {}),
        )
    )
    return config.listeners["default/gw/80"].filter_chains[0].http.request_metrics


def test_golden_case_compiles() -> None:
    metrics = golden_metrics()
    assert metrics is not None
    assert metrics.names == ("method", "tenant")
    assert all(label.program is not None for label in metrics.labels)


def test_label_names_are_valid_and_unique() -> None:
    taken = {"listener"}
    assert label_name("listener", taken) == "listener_"
    assert label_name("x-tenant.id", taken) == "x_tenant_id"
    assert label_name("1st", taken) == "_1st"
    assert label_name("__reserved", taken) == "_reserved"


async def test_requests_are_counted_by_label_values(proxy: Proxy, backends: Backends) -> None:
    backend: EchoBackend = await backends("web")
    labels = {"method": "request.method", "tenant": 'request.headers["x-tenant"]'}
    config = r.compiled(
        [metrics_listener(labels)],
        [r.route_config("rc", r.vhost("v", ["*"], r.to_cluster("c")))],
        {"c": [(backend.host, backend.port)]},
    )
    await proxy.apply(config)
    address = proxy.address_of("l")
    assert address is not None
    tenants: tuple[str | None, ...] = ("a", "a", "b", None)
    for tenant in tenants:
        headers = {"x-tenant": tenant} if tenant is not None else {}
        assert (await fetch(*address, get("/", headers=headers))).status == 200
    counts = proxy.stats.labelled_requests
    assert counts == {
        ("http", (("method", "GET"), ("tenant", "a"))): 2,
        ("http", (("method", "GET"), ("tenant", "b"))): 1,
        # A missing header is an evaluation error: the value is empty.
        ("http", (("method", "GET"), ("tenant", ""))): 1,
    }


def test_label_sets_beyond_the_bound_collapse_into_overflow() -> None:
    stats = ProxyStats()
    metrics = golden_metrics()
    assert metrics is not None
    for index in range(MAX_LABEL_SETS + 5):
        head = RequestHead(b"GET", b"/", None, b"h", b"http", [(b"x-tenant", b"%d" % index)])
        variables = request_variables(head, "HTTP/1.1", None, response=StatusFacts(200))
        count_labelled_request(stats, "l", metrics, variables)
    assert len(stats.labelled_requests) == MAX_LABEL_SETS + 1
    assert stats.labelled_requests[("l", (("method", OVERFLOW), ("tenant", OVERFLOW)))] == 5


class _Counters(Collector):
    def __init__(self, counters: Snapshot) -> None:
        self._counters = counters

    def collect(self) -> Iterator[Metric]:
        yield labelled_requests_metric(self._counters)


def test_snapshots_add_up_and_are_exposed_escaped() -> None:
    stats = ProxyStats()
    key = ("l", (("tenant", 'a"b\\c\nd'),))
    stats.labelled_requests[key] = 2
    totals = CounterTotals()
    totals.retire(take_snapshot(stats))
    summed = totals.total([take_snapshot(stats)])
    assert summed["labelled"] == [["l", [["tenant", 'a"b\\c\nd']], 4]]
    registry = CollectorRegistry()
    registry.register(_Counters(summed))
    text = generate_latest(registry).decode()
    assert 'agw_requests_labelled_total{listener="l",tenant="a\\"b\\\\c\\nd"} 4.0' in text
