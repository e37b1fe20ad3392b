"""End to end, on both data planes: AgentgatewayPolicy ``frontend.tracing`` exporting spans to
a real OTLP collector (tests' ``e2e.otlp_collector``) over gRPC and over HTTP.

Shows: a request the random sampling picks gives one span with the default attributes, a CEL
attribute and the Gateway's service name, and the backend receives a traceparent naming that
span; a request carrying a sampled traceparent continues its trace; with random sampling off, a
request without a trace context is not traced; request-dependent CEL sampling decides per
request on the agw proxy, and an Envoy Gateway's status says Envoy cannot evaluate it.

Leaves out sampling shares strictly between 0 and 1 (random by nature; the dataplane tests
drive the decision), and the export's batching and queue limits (tests/dataplane)."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from e2e import manifests as m
from e2e.conftest import NAMESPACE, Scenario
from e2e.harness import eventually
from e2e.otlp_collector import Collector, ReceivedSpan
from e2e.test_agw_policy_conn import gateway_target, policy
from e2e.test_routing import route, to

COLLECTOR_ADDRESS = "127.0.67.1"


@pytest.fixture(scope="module")
def collector() -> Iterator[Collector]:
    with Collector(COLLECTOR_ADDRESS) as running:
        yield running


def traced_gateway(
    scenario: Scenario, collector: Collector, name: str, tracing: dict[str, Any]
) -> str:
    """A Gateway ``name`` with a route to echo-1 for ``<name>.example.com`` and ``tracing`` as
    its frontend policy, exporting to the collector (``protocol`` picks the port); its host."""
    grpc = tracing.get("protocol") == "GRPC"
    port = collector.grpc_port if grpc else collector.http_port
    host = f"{name}.example.com"
    scenario.apply(
        name,
        m.gateway(name, NAMESPACE, [m.http_listener("http", 8080)]),
        *m.service(
            f"{name}-otel",
            NAMESPACE,
            [f"{COLLECTOR_ADDRESS}:{port}"],
            port=4317 if grpc else 4318,
            app_protocol="kubernetes.io/h2c" if grpc else None,
        ),
        route(name, host, [to("echo-1")], [{"name": name}]),
        policy(
            name,
            gateway_target(name),
            frontend={
                "tracing": {
                    "backendRef": m.backend(f"{name}-otel", 4317 if grpc else 4318),
                    **tracing,
                }
            },
        ),
    )
    scenario.gw.wait_condition("Gateway", NAMESPACE, name, "Programmed")
    scenario.eventually_status(host, "/ready", 200, gateway=name)
    return host


def span_for(collector: Collector, path: str) -> ReceivedSpan | None:
    found = [s for s in collector.spans if s.attributes.get("url.path") == path]
    assert len(found) <= 1, found
    return found[0] if found else None


def traced(
    scenario: Scenario, collector: Collector, gateway: str, host: str, **headers: str
) -> tuple[ReceivedSpan, dict[str, Any]]:
    """Send requests with fresh paths until one's span arrives (the first ones may precede the
    tracing config); the span and what the backend echoed."""
    sent: dict[str, dict[str, Any]] = {}

    def arrived() -> str | None:
        path = f"/traced/{uuid.uuid4().hex}"
        response = scenario.get(host, path, gateway=gateway, headers=headers)
        if response.status_code == 200:
            sent[path] = response.json()
        return next((p for p in sent if span_for(collector, p) is not None), None)

    path = eventually(arrived, what="a span at the collector")
    span = span_for(collector, path)
    assert span is not None
    return span, sent[path]


def upstream_traceparent(echoed: dict[str, Any]) -> tuple[str, str, str]:
    headers = {k.lower(): v for k, v in echoed["headers"].items()}
    version, trace_id, parent, flags = headers["traceparent"].split("-")
    assert version == "00"
    return trace_id, parent, flags


@pytest.mark.parametrize("protocol", ["GRPC", "HTTP"])
def test_random_sampling_exports_a_span_and_propagates_it(
    scenario: Scenario, collector: Collector, protocol: str
) -> None:
    name = f"trace-{protocol.lower()}"
    tracing = {
        "protocol": protocol,
        "randomSampling": "true",
        "attributes": {"add": [{"name": "tenant", "expression": 'request.headers["x-tenant"]'}]},
    }
    host = traced_gateway(scenario, collector, name, tracing)
    span, echoed = traced(scenario, collector, name, host, **{"x-tenant": "acme"})
    assert span.transport == protocol.lower()
    assert span.service_name == f"{name}.{NAMESPACE}"
    assert span.parent_span_id == ""
    assert span.attributes["tenant"] == "acme"
    assert span.attributes["http.request.method"] == "GET"
    assert span.attributes["server.address"] == host
    assert upstream_traceparent(echoed) == (span.trace_id, span.span_id, "01")


def test_a_sampled_client_trace_is_continued(scenario: Scenario, collector: Collector) -> None:
    name = "trace-client"
    host = traced_gateway(scenario, collector, name, {"protocol": "GRPC"})
    trace_id, parent = secrets.token_hex(16), secrets.token_hex(8)
    span, echoed = traced(scenario, collector, name, host, traceparent=f"00-{trace_id}-{parent}-01")
    assert (span.trace_id, span.parent_span_id) == (trace_id, parent)
    assert upstream_traceparent(echoed) == (trace_id, span.span_id, "01")
    # Random sampling is off by default: a request without a context is not traced. Spans
    # leave each proxy in order, so once a later traced request's span is in, the untraced
    # one would have been too.
    untraced = f"/untraced/{uuid.uuid4().hex}"
    assert scenario.get(host, untraced, gateway=name).status_code == 200
    traced(scenario, collector, name, host, traceparent=f"00-{trace_id}-{parent}-01")
    assert span_for(collector, untraced) is None


def test_request_dependent_sampling(scenario: Scenario, collector: Collector) -> None:
    name = "trace-cel"
    tracing = {"protocol": "GRPC", "randomSampling": 'request.headers["x-trace"] == "yes"'}
    host = traced_gateway(scenario, collector, name, tracing)
    if scenario.gw.dataplane == "envoy":

        def noted() -> bool:
            found = scenario.gw.object("AgentgatewayPolicy", NAMESPACE, name) or {}
            ancestors = found.get("status", {}).get("ancestors", [])
            return any(
                "frontend.tracing.randomSampling" in condition["message"]
                for ancestor in ancestors
                for condition in ancestor["conditions"]
            )

        eventually(noted, what="the status naming randomSampling")
        return
    skipped = f"/untraced/{uuid.uuid4().hex}"
    assert scenario.get(host, skipped, gateway=name).status_code == 200
    traced(scenario, collector, name, host, **{"x-trace": "yes"})
    assert span_for(collector, skipped) is None
