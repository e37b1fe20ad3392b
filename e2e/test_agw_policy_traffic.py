"""End to end, on both data planes: AgentgatewayPolicy traffic settings. Header modifiers from a
Gateway-level policy replaced by a route-level one, a direct response, a local rate limit
answering 429 beyond its tokens, CSRF refusing a cross-origin POST, and the buffer limit
answering 413. Leaves out timeouts, retries, host rewrite and CORS from policies (their IR
fold-in is covered by the golden cases; the data planes' handling by test_filters and
test_routing), and rate-limit refill over time (tests/dataplane/test_policy_traffic.py)."""

from __future__ import annotations

from typing import Any

import httpx

from e2e import manifests as m
from e2e.conftest import NAMESPACE, Scenario
from e2e.harness import eventually
from e2e.test_routing import route, to

GATEWAY = "ptraffic"
PARENT = [{"name": GATEWAY}]


def policy(name: str, target: dict[str, Any], traffic: dict[str, Any]) -> dict[str, Any]:
    return m.agw_policy(name, NAMESPACE, target, traffic=traffic)


def served(scenario: Scenario, name: str, host: str, traffic: dict[str, Any]) -> None:
    """A route to echo-1 on the policy Gateway with a route-level ``traffic`` policy."""
    scenario.apply(
        name,
        m.gateway(GATEWAY, NAMESPACE, [m.http_listener("http", 8080)]),
        route(name, host, [to("echo-1")], PARENT),
        policy(name, m.policy_target("HTTPRoute", name), traffic),
    )


def test_route_policy_replaces_gateway_headers(scenario: Scenario) -> None:
    scenario.apply(
        "pt-headers",
        m.gateway(GATEWAY, NAMESPACE, [m.http_listener("http", 8080)]),
        route("pt-gw", "gw.ptraffic.example.com", [to("echo-1")], PARENT),
        route("pt-route", "route.ptraffic.example.com", [to("echo-1")], PARENT),
        policy(
            "pt-gateway",
            m.policy_target("Gateway", GATEWAY),
            {
                "headerModifiers": {
                    "request": {"set": [{"name": "x-policy", "value": "gateway"}]},
                    "response": {"add": [{"name": "x-policy-response", "value": "gateway"}]},
                }
            },
        ),
        policy(
            "pt-route",
            m.policy_target("HTTPRoute", "pt-route"),
            {"headerModifiers": {"request": {"set": [{"name": "x-policy", "value": "route"}]}}},
        ),
    )

    def seen(host: str, value: str) -> httpx.Response | None:
        response = scenario.get(host, "/", gateway=GATEWAY)
        ok = response.status_code == 200 and response.json()["headers"].get("x-policy") == value
        return response if ok else None

    at_gateway = eventually(lambda: seen("gw.ptraffic.example.com", "gateway"), what="gw")
    assert at_gateway.headers["x-policy-response"] == "gateway"
    at_route = eventually(lambda: seen("route.ptraffic.example.com", "route"), what="route")
    # The route's policy replaces the whole headerModifiers field, response part included.
    assert "x-policy-response" not in at_route.headers


def test_direct_response(scenario: Scenario) -> None:
    host = "direct.ptraffic.example.com"
    served(scenario, "pt-direct", host, {"directResponse": {"status": 418, "body": "teapot"}})
    eventually(
        lambda: scenario.get(host, "/", gateway=GATEWAY).status_code == 418,
        what="direct response",
    )
    assert scenario.get(host, "/", gateway=GATEWAY).text == "teapot"


def test_local_rate_limit_answers_429(scenario: Scenario) -> None:
    host = "ratelimit.ptraffic.example.com"
    limit = 5
    # A marker header tells when the policy (one RDS update with the bucket) is in effect.
    served(
        scenario,
        "pt-ratelimit",
        host,
        {
            "rateLimit": {"local": [{"requests": limit, "unit": "Minutes"}]},
            "headerModifiers": {"response": {"set": [{"name": "x-limited", "value": "yes"}]}},
        },
    )
    eventually(
        lambda: scenario.get(host, "/", gateway=GATEWAY).headers.get("x-limited") == "yes",
        what="rate limit in effect",
    )  # that first request took one token
    statuses = [scenario.get(host, "/", gateway=GATEWAY).status_code for _ in range(3 * limit)]
    admitted = statuses.count(200)
    # A minute's refill adds at most one token over the few seconds the loop takes.
    assert limit - 1 <= admitted <= limit, statuses
    assert statuses.count(429) == len(statuses) - admitted
    refused = scenario.get(host, "/", gateway=GATEWAY)
    assert refused.status_code == 429
    assert refused.text == "local_rate_limited"
    assert refused.headers["x-ratelimit-limit"] == str(limit)
    assert refused.headers["x-ratelimit-remaining"] == "0"


def test_csrf_refuses_cross_origin_post(scenario: Scenario) -> None:
    host = "csrf.ptraffic.example.com"
    served(
        scenario,
        "pt-csrf",
        host,
        {"csrf": {"additionalOrigins": ["https://app.example.com"]}},
    )

    def post(origin: str) -> int:
        headers = {"origin": origin}
        return scenario.request("POST", host, "/", gateway=GATEWAY, headers=headers).status_code

    eventually(lambda: post("https://evil.example.com") == 403, what="csrf in effect")
    assert post(f"http://{host}") == 200
    assert post("https://app.example.com") == 200
    cross_get = scenario.get(host, "/", gateway=GATEWAY, headers={"origin": "https://x.example"})
    assert cross_get.status_code == 200


def test_buffer_limit_answers_413(scenario: Scenario) -> None:
    host = "buffer.ptraffic.example.com"
    served(scenario, "pt-buffer", host, {"buffer": {"maxRequestSize": 1024}})

    def post(size: int) -> int:
        body = b"x" * size
        return scenario.request("POST", host, "/", gateway=GATEWAY, content=body).status_code

    eventually(lambda: post(4096) == 413, what="buffer limit in effect")
    assert post(512) == 200
