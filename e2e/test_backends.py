"""End to end: backends. Weighted distribution, request timeouts (504), retries over a dead
endpoint, invalid and cross-namespace backends with and without ReferenceGrant (500 and the
conditions), and a grant deletion taking effect."""

from __future__ import annotations

from collections import Counter

from e2e import manifests as m
from e2e.conftest import NAMESPACE, Scenario
from e2e.harness import eventually
from e2e.test_routing import route, served_by, to


def test_weights_split_traffic(scenario: Scenario) -> None:
    host = "weights.example.com"
    rule = {"backendRefs": [m.backend("echo-1", weight=3), m.backend("echo-2", weight=1)]}
    scenario.apply("weights", route("weights", host, [rule]))
    scenario.eventually_status(host, "/", 200)
    counts = Counter(served_by(scenario.get(host, "/")) for _ in range(200))
    share = counts["127.0.61.1:9000"] / 200
    assert 0.62 <= share <= 0.88, counts  # 75% expected; the bound is about 4 standard deviations


def test_request_timeout_answers_504(scenario: Scenario) -> None:
    host = "timeout.example.com"
    rule = to("echo-1")
    rule["timeouts"] = {"request": "300ms"}
    scenario.apply("timeout", route("timeout", host, [rule]))
    scenario.eventually_status(host, "/", 200)
    assert scenario.get(host, "/?x-echo-delay-ms=2000").status_code == 504
    assert scenario.get(host, "/?x-echo-delay-ms=10").status_code == 200


def test_retry_over_a_dead_endpoint(scenario: Scenario) -> None:
    host = "retry.example.com"
    # Two endpoints on port 9000: echo on 127.0.61.1, and nothing listening on 127.0.61.9.
    docs = m.service("flaky", NAMESPACE, ["127.0.61.1:9000", "127.0.61.9:9000"])
    rule = to("flaky")
    rule["retry"] = {"attempts": 3, "codes": [503]}
    scenario.apply("retry", *docs, route("retry", host, [rule]))
    scenario.eventually_status(host, "/", 200)
    statuses = Counter(scenario.get(host, "/").status_code for _ in range(30))
    assert statuses == {200: 30}


def test_missing_backend_answers_500(scenario: Scenario) -> None:
    host = "missing.example.com"
    scenario.apply("missing", route("missing", host, [to("no-such-service")]))
    scenario.gw.wait_condition(
        "HTTPRoute", NAMESPACE, "missing", "ResolvedRefs", "False", "BackendNotFound"
    )
    scenario.eventually_status(host, "/", 500)


def test_unknown_backend_kind_answers_500(scenario: Scenario) -> None:
    host = "badkind.example.com"
    rule = {"backendRefs": [{"group": "example.com", "kind": "Bucket", "name": "b"}]}
    scenario.apply("badkind", route("badkind", host, [rule]))
    scenario.gw.wait_condition(
        "HTTPRoute", NAMESPACE, "badkind", "ResolvedRefs", "False", "InvalidKind"
    )
    scenario.eventually_status(host, "/", 500)


def test_cross_namespace_backend_needs_a_grant(scenario: Scenario) -> None:
    host = "grant.example.com"
    other = "e2e-backends"
    scenario.apply(
        "grant-backend", m.namespace(other), *m.service("remote", other, ["127.0.61.5:9000"])
    )
    rule = {"backendRefs": [m.backend("remote", namespace=other)]}
    scenario.apply("grant-route", route("grant", host, [rule]))
    scenario.gw.wait_condition(
        "HTTPRoute", NAMESPACE, "grant", "ResolvedRefs", "False", "RefNotPermitted"
    )
    scenario.eventually_status(host, "/", 500)

    scenario.apply("grant-grant", m.reference_grant(other, NAMESPACE))
    scenario.gw.wait_condition("HTTPRoute", NAMESPACE, "grant", "ResolvedRefs", "True")
    assert served_by(scenario.eventually_status(host, "/", 200)) == "127.0.61.5:9000"

    scenario.delete("grant-grant")
    scenario.gw.wait_condition(
        "HTTPRoute", NAMESPACE, "grant", "ResolvedRefs", "False", "RefNotPermitted"
    )
    scenario.eventually_status(host, "/", 500)


def test_partly_invalid_weights_answer_500_for_their_share(scenario: Scenario) -> None:
    host = "partial.example.com"
    rule = {"backendRefs": [m.backend("echo-1", weight=1), m.backend("nowhere", weight=1)]}
    scenario.apply("partial", route("partial", host, [rule]))
    scenario.gw.wait_condition(
        "HTTPRoute", NAMESPACE, "partial", "ResolvedRefs", "False", "BackendNotFound"
    )
    eventually(lambda: scenario.get(host, "/").status_code in (200, 500), what="route served")
    counts = Counter(scenario.get(host, "/").status_code for _ in range(100))
    assert set(counts) == {200, 500}
    assert 25 <= counts[500] <= 75, counts
