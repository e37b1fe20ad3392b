"""End to end: the HTTPRoute ExternalAuth filter (GEP-1494) on both data planes, against real
gRPC and HTTP authorization services: allowed requests reach the backend with the headers the
service added; denied ones get the service's answer (403 from gRPC, the HTTP service's own
status, headers and body) and never reach the backend; an unreachable service refuses with 403;
an unresolvable auth backendRef answers 500; a body is forwarded to the service up to maxSize.
Leaves out TLS to the auth service (tests/dataplane/test_policy_service_tls.py) and the
auth-service timeout."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from e2e import manifests as m
from e2e.authz import (
    GOOD_TOKEN,
    GRPC_DENIED_BODY,
    HTTP_DENIED_BODY,
    HTTP_DENIED_STATUS,
    HTTP_EXTRA_HEADER,
    USER_HEADER,
    GrpcAuthz,
    HttpAuthz,
)
from e2e.conftest import NAMESPACE, Scenario
from e2e.harness import eventually, free_port
from e2e.test_routing import route, to

GOOD = {"authorization": GOOD_TOKEN}
BAD = {"authorization": "Bearer bad"}


@dataclass
class AuthServices:
    grpc: GrpcAuthz
    http: HttpAuthz
    # Where nothing listens: an auth service that is down.
    down: str

    def manifests(self) -> list[dict[str, Any]]:
        return [
            *m.service("authz-grpc", NAMESPACE, [f"127.0.62.1:{self.grpc.port}"]),
            *m.service("authz-http", NAMESPACE, [f"127.0.62.2:{self.http.port}"]),
            *m.service("authz-down", NAMESPACE, [self.down]),
        ]


@pytest.fixture(scope="module")
def authz() -> Iterator[AuthServices]:
    with GrpcAuthz("127.0.62.1:0") as grpc_service, HttpAuthz(("127.0.62.2", 0)) as http:
        yield AuthServices(grpc_service, http, f"127.0.62.3:{free_port()}")


def protected(backend: str, service: str, protocol: str, **config: Any) -> dict[str, Any]:
    rule = to(backend)
    rule["filters"] = [
        {
            "type": "ExternalAuth",
            "externalAuth": {"protocol": protocol, "backendRef": m.backend(service), **config},
        }
    ]
    return rule


def protect(scenario: Scenario, host: str, denial: int) -> None:
    """Wait until a request without credentials is denied. Not until a good one is allowed:
    Envoy keeps a listener's old filter chain on connections opened before an update, so the
    test client's kept-alive connection could be let through by a chain without the filter
    while already routed by the new route table."""
    scenario.eventually_status(host, "/", denial)


def test_grpc_auth_allows_and_denies(scenario: Scenario, authz: AuthServices) -> None:
    host = "grpc-auth.example.com"
    rule = protected("echo-1", "authz-grpc", "GRPC", grpc={"allowedHeaders": ["Authorization"]})
    scenario.apply("grpc-auth", *authz.manifests(), route("grpc-auth", host, [rule]))
    protect(scenario, host, 403)
    allowed = scenario.get(host, "/in?q=1", headers={**GOOD, "x-secret": "s"})
    assert allowed.status_code == 200
    assert allowed.json()["headers"][USER_HEADER] == "alice"
    check = authz.grpc.checks[-1]
    assert check.path == "/in?q=1"
    assert check.headers["authorization"] == GOOD_TOKEN
    assert "x-secret" not in check.headers  # only allowedHeaders reach the service
    before = scenario.echo.requests("127.0.61.1:9000")
    denied = scenario.get(host, "/in", headers=BAD)
    assert denied.status_code == 403
    assert denied.text == GRPC_DENIED_BODY
    assert scenario.get(host, "/in").status_code == 403
    assert scenario.echo.requests("127.0.61.1:9000") == before


def test_http_auth_allows_and_returns_denials(scenario: Scenario, authz: AuthServices) -> None:
    host = "http-auth.example.com"
    rule = protected(
        "echo-2",
        "authz-http",
        "HTTP",
        http={
            "path": "/check",
            "allowedHeaders": ["x-tenant"],
            "allowedResponseHeaders": [USER_HEADER],
        },
    )
    scenario.apply("http-auth", *authz.manifests(), route("http-auth", host, [rule]))
    headers = {**GOOD, "x-tenant": "t1", "x-secret": "s"}
    protect(scenario, host, HTTP_DENIED_STATUS)
    allowed = scenario.get(host, "/in/x", headers=headers)
    assert allowed.status_code == 200
    seen = allowed.json()["headers"]
    assert seen[USER_HEADER] == "alice"
    assert HTTP_EXTRA_HEADER not in seen  # not in allowedResponseHeaders
    check = authz.http.checks[-1]
    assert check.method == "GET"
    assert check.path == "/check/in/x"
    assert check.headers["x-tenant"] == "t1"
    assert check.headers["authorization"] == GOOD_TOKEN  # always sent over HTTP
    assert "x-secret" not in check.headers
    before = scenario.echo.requests("127.0.61.2:9000")
    denied = scenario.get(host, "/in/x", headers=BAD)
    assert denied.status_code == HTTP_DENIED_STATUS
    assert denied.text == HTTP_DENIED_BODY
    assert denied.headers["www-authenticate"] == 'Bearer realm="e2e"'
    assert scenario.echo.requests("127.0.61.2:9000") == before


@pytest.mark.parametrize("protocol", ["GRPC", "HTTP"])
def test_auth_service_down_refuses(scenario: Scenario, authz: AuthServices, protocol: str) -> None:
    host = f"auth-down-{protocol.lower()}.example.com"
    rule = protected("echo-5", "authz-down", protocol)
    name = f"auth-down-{protocol.lower()}"
    scenario.apply(name, *authz.manifests(), route(name, host, [rule]))
    scenario.eventually_status(host, "/", 403, headers=GOOD)
    before = scenario.echo.requests("127.0.61.5:9000")
    for _ in range(3):
        assert scenario.get(host, "/", headers=GOOD).status_code == 403
    assert scenario.echo.requests("127.0.61.5:9000") == before


def test_unresolvable_auth_ref_answers_500(scenario: Scenario) -> None:
    host = "auth-missing.example.com"
    rule = protected("echo-1", "no-such-authz", "HTTP")
    scenario.apply(
        "auth-missing",
        route(
            "auth-missing",
            host,
            [rule, to("echo-1", path={"type": "PathPrefix", "value": "/open"})],
        ),
    )
    scenario.eventually_status(host, "/open", 200)
    assert scenario.get(host, "/", headers=GOOD).status_code == 500


@pytest.mark.parametrize("protocol", ["GRPC", "HTTP"])
def test_body_forwarded_up_to_max_size(
    scenario: Scenario, authz: AuthServices, protocol: str
) -> None:
    host = f"auth-body-{protocol.lower()}.example.com"
    service = authz.grpc if protocol == "GRPC" else authz.http
    rule = protected("echo-3", f"authz-{protocol.lower()}", protocol, forwardBody={"maxSize": 8})
    name = f"auth-body-{protocol.lower()}"
    scenario.apply(name, *authz.manifests(), route(name, host, [rule]))
    protect(scenario, host, 403 if protocol == "GRPC" else HTTP_DENIED_STATUS)
    body = b"0123456789abcdef"
    response = scenario.request("POST", host, "/upload", headers=GOOD, content=body)
    assert response.status_code == 200
    assert response.json()["body"] == body.decode()  # the backend gets all of it
    check = eventually(
        lambda: next((c for c in reversed(service.checks) if c.method == "POST"), None),
        what="the POST's check",
    )
    assert check.body == body[:8]
