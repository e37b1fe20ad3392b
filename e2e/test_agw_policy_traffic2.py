"""End to end: AgentgatewayPolicy traffic gaps closed in phase 3, on both data planes.

Covers ``traffic.extAuth`` against a real HTTP authorization service (allowed requests reach
the backend with the header the service added, denied ones get its answer), failureMode
FailOpen letting requests through while the service is down and FailClosed refusing them
(403); a CEL expression that does not compile making the policy Accepted=False with the
field named; and on the agw proxy a response body replaced by CEL reading ``response``
(Envoy, which has no CEL transformation, says so in the status). Leaves out gRPC policy
auth and request bodies (tests/dataplane/test_policy_traffic2.py, e2e/test_extauth.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from e2e import manifests as m
from e2e.authz import GOOD_TOKEN, HTTP_DENIED_STATUS, USER_HEADER, HttpAuthz
from e2e.conftest import NAMESPACE, Scenario
from e2e.harness import eventually, free_port
from e2e.test_routing import route, to

GOOD = {"authorization": GOOD_TOKEN}
BAD = {"authorization": "Bearer bad"}


def policy(name: str, target: str, traffic: dict[str, Any]) -> dict[str, Any]:
    return m.agw_policy(name, NAMESPACE, m.policy_target("HTTPRoute", target), traffic=traffic)


def accepted(scenario: Scenario, name: str) -> dict[str, Any]:
    """The Accepted condition of the policy's first ancestor, once it has one."""

    def probe() -> dict[str, Any] | None:
        found = scenario.gw.object("AgentgatewayPolicy", NAMESPACE, name)
        for ancestor in (found or {}).get("status", {}).get("ancestors", []):
            for condition in ancestor["conditions"]:
                if condition["type"] == "Accepted":
                    return dict(condition)
        return None

    return eventually(probe, what=f"status of AgentgatewayPolicy {name}")


@pytest.fixture(scope="module")
def http_authz() -> Iterator[tuple[HttpAuthz, str]]:
    with HttpAuthz(("127.0.63.1", 0)) as service:
        yield service, f"127.0.63.2:{free_port()}"


def auth_services(http_authz: tuple[HttpAuthz, str]) -> list[dict[str, Any]]:
    service, down = http_authz
    return [
        *m.service("t2-authz", NAMESPACE, [f"127.0.63.1:{service.port}"]),
        *m.service("t2-authz-down", NAMESPACE, [down]),
    ]


def ext_auth(service: str, **settings: Any) -> dict[str, Any]:
    return {"extAuth": {"backendRef": m.backend(service), **settings}}


def test_policy_ext_auth_allows_and_denies(
    scenario: Scenario, http_authz: tuple[HttpAuthz, str]
) -> None:
    host = "t2-extauth.example.com"
    settings = ext_auth(
        "t2-authz", http={"path": "/check", "allowedResponseHeaders": [USER_HEADER]}
    )
    scenario.apply(
        "t2-extauth",
        *auth_services(http_authz),
        route("t2-extauth", host, [to("echo-1")]),
        policy("t2-extauth", "t2-extauth", settings),
    )
    scenario.eventually_status(host, "/", HTTP_DENIED_STATUS)
    allowed = scenario.get(host, "/in", headers=GOOD)
    assert allowed.status_code == 200
    assert allowed.json()["headers"][USER_HEADER] == "alice"
    assert http_authz[0].checks[-1].path == "/check/in"
    assert scenario.get(host, "/in", headers=BAD).status_code == HTTP_DENIED_STATUS
    assert accepted(scenario, "t2-extauth")["status"] == "True"


@pytest.mark.parametrize(("mode", "status"), [("FailOpen", 200), ("FailClosed", 403)])
def test_policy_ext_auth_failure_mode(
    scenario: Scenario, http_authz: tuple[HttpAuthz, str], mode: str, status: int
) -> None:
    name = f"t2-down-{mode.lower()}"
    host = f"{name}.example.com"
    scenario.apply(
        name,
        *auth_services(http_authz),
        route(name, host, [to("echo-2")]),
        policy(name, name, ext_auth("t2-authz-down", http={}, failureMode=mode)),
    )
    scenario.eventually_status(host, "/", status, headers=GOOD)
    for _ in range(3):
        assert scenario.get(host, "/", headers=GOOD).status_code == status


def test_invalid_cel_is_named_and_not_applied(scenario: Scenario) -> None:
    host = "t2-badcel.example.com"
    bad = {"transformation": {"request": {"set": [{"name": "x-bad", "value": "request.path +"}]}}}
    scenario.apply(
        "t2-badcel",
        route("t2-badcel", host, [to("echo-3")]),
        policy("t2-badcel", "t2-badcel", bad),
    )
    condition = accepted(scenario, "t2-badcel")
    assert (condition["status"], condition["reason"]) == ("False", "Invalid")
    assert "spec.traffic.transformation.request.set[0].value" in condition["message"]
    response = scenario.eventually_status(host, "/", 200)
    assert "x-bad" not in response.json()["headers"]


def test_response_body_from_cel(scenario: Scenario) -> None:
    host = "t2-body.example.com"
    transform = {
        "transformation": {
            "response": {"body": "'upstream said ' + string(response.code)"},
        }
    }
    scenario.apply(
        "t2-body",
        route("t2-body", host, [to("echo-4")]),
        policy("t2-body", "t2-body", transform),
    )
    if scenario.gw.dataplane == "envoy":
        message = accepted(scenario, "t2-body")["message"]
        assert "only by the agw proxy: traffic.transformation" in message
        return

    def replaced() -> Any:
        response = scenario.get(host, "/")
        return response if response.text == "upstream said 200" else None

    eventually(replaced, what="response body replaced by CEL")
