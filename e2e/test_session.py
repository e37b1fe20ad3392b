"""End to end, on both data planes: session persistence (GEP-1619) and retry budgets
(GEP-3388). A cookie session stays on its endpoint after the route's weights change; a header
session does the same with a header; retries to a failing backend stop at the budget an
XBackendTrafficPolicy sets (counted by the attempts the backend saw).

Left out: session expiry (Max-Age) in real time, and endpoints leaving a session's cluster
(the dataplane tests cover both)."""

from __future__ import annotations

import time
from http.cookies import SimpleCookie
from typing import Any

from dataplane.config.session import SessionConfig
from dataplane.session import requested_address
from e2e import manifests as m
from e2e.conftest import NAMESPACE, Scenario
from e2e.harness import eventually
from e2e.test_routing import route, served_by

SESSION_COOKIE = "sticky-e2e"
SESSION_HEADER = "x-e2e-session"
ECHO_3, ECHO_4 = "127.0.61.3:9000", "127.0.61.4:9000"


def _weighted(first: int, second: int, session: dict[str, Any]) -> dict[str, Any]:
    return {
        "backendRefs": [m.backend("echo-3", weight=first), m.backend("echo-4", weight=second)],
        "sessionPersistence": session,
    }


def _get(scenario: Scenario, host: str, **kwargs: Any) -> Any:
    """A request carrying only the cookies given: the client would replay the ones it got."""
    scenario.client.cookies.clear()
    return scenario.get(host, "/", **kwargs)


def _session_cookie(response: Any) -> str:
    jar: SimpleCookie = SimpleCookie()
    jar.load(response.headers["set-cookie"])
    return jar[SESSION_COOKIE].value


def _mostly_served_by(scenario: Scenario, host: str, address: str) -> bool:
    """Fresh requests (no session) mostly land on ``address``: the new weights are in force."""
    served = [served_by(_get(scenario, host)) for _ in range(20)]
    return served.count(address) >= 15


def test_cookie_session_survives_a_change_of_weights(scenario: Scenario) -> None:
    host = "sticky-cookie.example.com"
    session = {"sessionName": SESSION_COOKIE}
    scenario.apply("sticky-cookie", route("sticky-cookie", host, [_weighted(1, 1, session)]))
    # The route and the listener's session filter arrive separately: wait for both.
    first = eventually(
        lambda: "set-cookie" in (r := _get(scenario, host)).headers and r, what="session cookie"
    )
    assert "Path=/" in first.headers["set-cookie"] and "HttpOnly" in first.headers["set-cookie"]
    assert "Max-Age" not in first.headers["set-cookie"]  # lifetimeType Session
    pinned = served_by(first)
    cookie = {"cookie": f"{SESSION_COOKIE}={_session_cookie(first)}"}
    # Both data planes write Envoy's token: it names the endpoint that answered.
    config = SessionConfig(SESSION_COOKIE.encode(), cookie=True)
    header = [(b"cookie", cookie["cookie"].encode())]
    assert requested_address(config, header, time.time()) == pinned
    assert {served_by(_get(scenario, host, headers=cookie)) for _ in range(20)} == {pinned}

    other = ECHO_4 if pinned == ECHO_3 else ECHO_3
    weights = (1, 99) if pinned == ECHO_3 else (99, 1)
    scenario.apply("sticky-cookie", route("sticky-cookie", host, [_weighted(*weights, session)]))
    eventually(lambda: _mostly_served_by(scenario, host, other), what="new weights in force")
    assert {served_by(_get(scenario, host, headers=cookie)) for _ in range(20)} == {pinned}


def test_header_session_stays_on_its_endpoint(scenario: Scenario) -> None:
    host = "sticky-header.example.com"
    session = {"type": "Header", "sessionName": SESSION_HEADER}
    scenario.apply("sticky-header", route("sticky-header", host, [_weighted(1, 1, session)]))
    first = eventually(
        lambda: SESSION_HEADER in (r := _get(scenario, host)).headers and r, what="session header"
    )
    token = first.headers[SESSION_HEADER]
    pinned = served_by(first)
    header = {SESSION_HEADER: token}
    served = [_get(scenario, host, headers=header) for _ in range(20)]
    assert {served_by(response) for response in served} == {pinned}
    # The token is only sent back when the endpoint changes.
    assert all(SESSION_HEADER not in response.headers for response in served)


def _budget_policy(service: str, percent: int) -> dict[str, Any]:
    return {
        "apiVersion": "gateway.networking.x-k8s.io/v1alpha1",
        "kind": "XBackendTrafficPolicy",
        "metadata": {"name": f"{service}-budget", "namespace": NAMESPACE},
        "spec": {
            "targetRefs": [{"group": "", "kind": "Service", "name": service}],
            "retryConstraint": {
                "budget": {"percent": percent, "interval": "1h"},
                "minRetryRate": {"count": 0, "interval": "1s"},
            },
        },
    }


def test_retries_stop_at_the_budget(scenario: Scenario) -> None:
    host = "budget.example.com"
    failing = "/?x-echo-status=503"
    backend = "127.0.61.6:9000"
    rule = {"backendRefs": [m.backend("budget")], "retry": {"attempts": 3, "codes": [503]}}
    docs = m.service("budget", NAMESPACE, [backend])
    scenario.apply("budget", *docs, route("budget", host, [rule]))
    scenario.eventually_status(host, "/", 200)

    sent = [0]

    def attempts_of_one_request() -> int:
        sent[0] += 1
        before = scenario.echo.requests(backend)
        assert scenario.get(host, failing).status_code == 503
        return scenario.echo.requests(backend) - before

    assert attempts_of_one_request() == 4  # without a budget: the request and three retries

    scenario.apply("budget-policy", _budget_policy("budget", 20))
    sent[0] = 0  # the budget counts from when it arrives
    # With no floor, a lone failing request gets no retry once the budget is in force.
    eventually(lambda: attempts_of_one_request() == 1, what="retry budget in force")
    requests = 20
    before = scenario.echo.requests(backend)
    for _ in range(requests):
        assert scenario.get(host, failing).status_code == 503
    retries = scenario.echo.requests(backend) - before - requests
    # Retries may make up 20% of the requests, retries included: r <= (n + r) / 5, so
    # r <= n / 4 over every request since the budget arrived (Envoy, counting concurrent
    # retries, allows none here).
    assert 0 <= retries <= (requests + sent[0]) // 4, retries
