"""End to end: the CEL variables ``backend`` and ``extauthz`` of AgentgatewayPolicy expressions,
and the gRPC ext_authz context extensions.

Covers, on the agw proxy, a route split over two Services whose transformation writes
``backend.name`` and ``backend.type`` (each request names the Service that answered it),
a CEL authorization rule on ``backend.name`` refusing one of the two shares (the backend is
picked before policies run), and the transformation reading ``extauthz`` (the dynamic
metadata of a real gRPC ext_authz service's OK answer; the transformation runs after
ext_authz). On both planes: the policy's context extensions reaching the service, and an
access-log field reading ``extauthz`` (on Envoy, rewritten to ext_authz's dynamic metadata).
On Envoy, which has neither agw's CEL transformation nor these variables in its RBAC
conditions, the status names the fields only the agw proxy enforces (a policy of nothing else
is not Accepted), and ext_authz still decides. Leaves out span attributes and metric labels
reading these variables (tests/dataplane/test_cel_variables.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from e2e import manifests as m
from e2e.authz import GOOD_TOKEN, GRPC_METADATA, GrpcAuthz
from e2e.conftest import BACKENDS, NAMESPACE, Scenario
from e2e.harness import eventually
from e2e.test_agw_policy_conn import logged_lines
from e2e.test_routing import route

AUTHZ_HOST = "127.0.68.1"
LOG_PORT = 8080
GOOD = {"authorization": GOOD_TOKEN}
NOT_ON_ENVOY = "only by the agw proxy"


@pytest.fixture(scope="module")
def grpc_authz() -> Iterator[GrpcAuthz]:
    with GrpcAuthz(f"{AUTHZ_HOST}:0") as service:
        yield service


def _split(*backends: str) -> dict[str, Any]:
    return {"backendRefs": [m.backend(name, weight=1) for name in backends]}


def _policy(name: str, traffic: dict[str, Any]) -> dict[str, Any]:
    return m.agw_policy(name, NAMESPACE, m.policy_target("HTTPRoute", name), traffic=traffic)


def _accepted(scenario: Scenario, name: str) -> dict[str, Any]:
    """The Accepted condition of the policy's first ancestor, once it has one."""

    def probe() -> dict[str, Any] | None:
        found = scenario.gw.object("AgentgatewayPolicy", NAMESPACE, name) or {}
        for ancestor in found.get("status", {}).get("ancestors", []):
            for condition in ancestor["conditions"]:
                if condition["type"] == "Accepted":
                    return dict(condition)
        return None

    return eventually(probe, what=f"Accepted condition of AgentgatewayPolicy {name}")


def _answered_by(response: Any) -> str:
    """The echo Service whose endpoint answered."""
    address = response.json()["address"]
    return next(name for name, at in BACKENDS.items() if at == address)


def test_backend_is_the_service_the_request_goes_to(scenario: Scenario) -> None:
    name = "vars-backend"
    host = f"{name}.example.com"
    scenario.apply(
        name,
        route(name, host, [_split("echo-5", "echo-6")]),
        _policy(
            name,
            {
                "transformation": {
                    "request": {
                        "set": [{"name": "x-backend", "value": "backend.name + ' ' + backend.type"}]
                    }
                },
                "authorization": {
                    "action": "Deny",
                    "policy": {"matchExpressions": ["backend.name.endsWith('/echo-6:80')"]},
                },
            },
        ),
    )
    if scenario.gw.dataplane == "envoy":
        # Nothing the policy sets is enforced there.
        condition = _accepted(scenario, name)
        assert (condition["status"], condition["reason"]) == ("False", "UnsupportedValue")
        assert "traffic.transformation" in condition["message"]
        assert "traffic.authorization" in condition["message"]
        return
    scenario.eventually_status(host, "/", 200)
    statuses = set()
    for _ in range(40):
        response = scenario.get(host, "/")
        statuses.add(response.status_code)
        if response.status_code == 200:
            served = _answered_by(response)
            assert served == "echo-5"
            expected = f"service/{NAMESPACE}/echo-5:80 service"
            assert response.json()["headers"]["x-backend"] == expected
    # Both shares were drawn: echo-6's was refused by the rule on backend.name.
    assert statuses == {200, 403}


def test_transformation_sees_ext_authz_metadata(scenario: Scenario, grpc_authz: GrpcAuthz) -> None:
    name = "vars-extauthz"
    host = f"{name}.example.com"
    scenario.apply(
        name,
        *m.service("vars-authz", NAMESPACE, [f"{AUTHZ_HOST}:{grpc_authz.port}"]),
        route(name, host, [_split("echo-4")]),
        _policy(
            name,
            {
                "extAuth": {
                    "backendRef": m.backend("vars-authz"),
                    "grpc": {"contextExtensions": {"tenant": "acme"}},
                },
                "transformation": {
                    "request": {
                        "set": [
                            {"name": "x-authz-user", "value": "extauthz.user"},
                            {"name": "x-authz-groups", "value": "extauthz.groups.join(',')"},
                        ]
                    }
                },
            },
        ),
    )
    scenario.eventually_status(host, "/", 403)
    allowed = scenario.get(host, "/", headers=GOOD)
    assert allowed.status_code == 200
    # Both planes send the policy's context extensions in the CheckRequest.
    assert grpc_authz.checks[-1].context == {"tenant": "acme"}
    if scenario.gw.dataplane == "envoy":
        assert f"{NOT_ON_ENVOY}: traffic.transformation" in _accepted(scenario, name)["message"]
        return
    seen = allowed.json()["headers"]
    assert seen["x-authz-user"] == GRPC_METADATA["user"]
    assert seen["x-authz-groups"] == "dev,ops"


def test_access_log_reads_ext_authz_metadata(scenario: Scenario, grpc_authz: GrpcAuthz) -> None:
    """On both planes: on Envoy, ``extauthz`` is rewritten to the ext_authz filter's dynamic
    metadata."""
    name = "vars-log"
    host = f"{name}.example.com"
    scenario.apply(
        name,
        m.gateway(name, NAMESPACE, [m.http_listener("http", LOG_PORT)]),
        *m.service("vars-log-authz", NAMESPACE, [f"{AUTHZ_HOST}:{grpc_authz.port}"]),
        route(name, host, [_split("echo-3")], [{"name": name}]),
        _policy(name, {"extAuth": {"backendRef": m.backend("vars-log-authz"), "grpc": {}}}),
        m.agw_policy(
            f"{name}-frontend",
            NAMESPACE,
            m.policy_target("Gateway", name),
            frontend={
                "accessLog": {
                    "attributes": {
                        "add": [
                            {"name": "marker", "expression": 'request.headers["x-marker"]'},
                            {"name": "authz_user", "expression": "extauthz.user"},
                        ]
                    }
                }
            },
        ),
    )
    scenario.gw.wait_condition("Gateway", NAMESPACE, name, "Programmed")
    run = uuid.uuid4().hex
    pid = scenario.gw.process.pid

    def logged() -> list[dict[str, Any]] | None:
        headers = {**GOOD, "x-marker": run}
        scenario.get(host, "/", gateway=name, port=LOG_PORT, headers=headers)
        return logged_lines(pid, name, run) or None

    lines = eventually(logged, what="an access-log line of an allowed request")
    assert {line["authz_user"] for line in lines} == {GRPC_METADATA["user"]}
