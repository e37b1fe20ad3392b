"""End to end, on both data planes: AgentgatewayPolicy ``traffic.rateLimit.global`` against a
real rate limit service (grpc.aio ``RateLimitService/ShouldRateLimit`` counting hits per
descriptor): requests past the limit answer 429 with ``x-envoy-ratelimited``, other clients
keep their own budget, and a FailClosed limit whose service is down answers 500 while a
FailOpen one lets requests through. Also CEL ``traffic.authorization`` (Deny and Require
rules), which Envoy enforces through RBAC conditions converted from the CEL, and JWT
authentication with a remote key set served by a small HTTP server in the test (a token
signed with one of its keys is accepted; one signed with another key is not).

Leaves out CEL-only descriptors (agw proxy only; tests/dataplane/test_policy_rls.py), the
headers a service adds, the service's timeout, and authorization on JWT claims."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
import pytest
from envoy.service.ratelimit.v3 import rls_pb2

from e2e import manifests as m
from e2e.conftest import NAMESPACE, Scenario
from e2e.harness import eventually, free_port
from e2e.jwt_tokens import SigningKey
from e2e.test_agw_policy_traffic import policy
from e2e.test_routing import route, to

LIMIT = 3
DOMAIN = "agw-e2e"
RLS_ADDRESS = "127.0.63.1"


class RateLimitService:
    """ShouldRateLimit on one server thread (so the counts need no lock): each descriptor may
    be hit ``LIMIT`` times; the request is over the limit when any of its descriptors is."""

    def __init__(self, host: str) -> None:
        self.hits: Counter[tuple[Any, ...]] = Counter()
        self.domains: list[str] = []
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
        handler = grpc.unary_unary_rpc_method_handler(
            self._should_rate_limit,
            request_deserializer=rls_pb2.RateLimitRequest.FromString,
            response_serializer=rls_pb2.RateLimitResponse.SerializeToString,
        )
        service = "envoy.service.ratelimit.v3.RateLimitService"
        self.server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(service, {"ShouldRateLimit": handler}),)
        )
        self.port = self.server.add_insecure_port(f"{host}:0")

    def __enter__(self) -> RateLimitService:
        self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop(grace=None).wait(10)

    def _should_rate_limit(self, request: Any, context: Any) -> Any:
        self.domains.append(request.domain)
        over = False
        for descriptor in request.descriptors:
            key = (request.domain, *((e.key, e.value) for e in descriptor.entries))
            self.hits[key] += 1
            over = over or self.hits[key] > LIMIT
        code = rls_pb2.RateLimitResponse.OVER_LIMIT if over else rls_pb2.RateLimitResponse.OK
        return rls_pb2.RateLimitResponse(overall_code=code)


@pytest.fixture(scope="module")
def rls() -> Iterator[RateLimitService]:
    with RateLimitService(RLS_ADDRESS) as service:
        yield service


def limited(scenario: Scenario, rls: RateLimitService, name: str, host: str, **spec: Any) -> None:
    global_limit = {
        "backendRef": m.backend(spec.pop("service", "rls"), 8081),
        "domain": DOMAIN,
        "descriptors": [{"entries": [{"name": "user", "expression": "request.headers['x-user']"}]}],
        **spec,
    }
    scenario.apply(
        name,
        *m.service("rls", NAMESPACE, [f"{RLS_ADDRESS}:{rls.port}"], port=8081),
        *m.service("rls-down", NAMESPACE, [f"127.0.63.2:{free_port()}"], port=8081),
        route(name, host, [to("echo-1")]),
        policy(name, m.policy_target("HTTPRoute", name), {"rateLimit": {"global": global_limit}}),
    )


def test_past_the_limit_answers_429(scenario: Scenario, rls: RateLimitService) -> None:
    host = "rls.example.com"
    asked = len(rls.domains)
    limited(scenario, rls, "rls-limit", host)
    # Configured once the service is asked; each probe uses a fresh client id.
    eventually(
        lambda: (
            scenario.get(host, "/", headers={"x-user": uuid.uuid4().hex}).status_code == 200
            and len(rls.domains) > asked
        ),
        what="the rate limit service asked",
    )
    user = {"x-user": uuid.uuid4().hex}
    for _ in range(LIMIT):
        assert scenario.get(host, "/", headers=user).status_code == 200
    refused = scenario.get(host, "/", headers=user)
    assert refused.status_code == 429
    assert refused.headers["x-envoy-ratelimited"] == "true"
    # Another client has its own budget.
    assert scenario.get(host, "/", headers={"x-user": uuid.uuid4().hex}).status_code == 200


def test_failure_modes(scenario: Scenario, rls: RateLimitService) -> None:
    closed, opened = "rls-closed.example.com", "rls-open.example.com"
    limited(scenario, rls, "rls-closed", closed, service="rls-down", failureMode="FailClosed")
    scenario.eventually_status(closed, "/", 500, headers={"x-user": "a"})
    limited(scenario, rls, "rls-open", opened, service="rls-down", failureMode="FailOpen")
    scenario.eventually_status(opened, "/", 200, headers={"x-user": "a"})
    # Without the header the descriptor is absent: the service is never asked.
    assert scenario.get(closed, "/").status_code == 200


def test_cel_authorization_allows_and_denies(scenario: Scenario) -> None:
    host = "rbac.example.com"
    name = "cel-rbac"
    rules = [
        ("Deny", ["request.headers['x-bot'] == 'yes'", "request.path.startsWith('/admin')"]),
        ("Require", ["request.method == 'GET' || has(request.headers.x_write)"]),
    ]
    scenario.apply(
        name,
        route(name, host, [to("echo-1")]),
        *(
            policy(
                f"{name}-{index}",
                m.policy_target("HTTPRoute", name),
                {"authorization": {"action": action, "policy": {"matchExpressions": exprs}}},
            )
            for index, (action, exprs) in enumerate(rules)
        ),
    )
    scenario.eventually_status(host, "/", 403, headers={"x-bot": "yes"})
    assert scenario.get(host, "/ok").status_code == 200
    assert scenario.get(host, "/admin/x").status_code == 403
    assert scenario.request("POST", host, "/ok").status_code == 403
    status = scenario.gw.object("AgentgatewayPolicy", NAMESPACE, f"{name}-0")
    assert status is not None
    accepted = status["status"]["ancestors"][0]["conditions"][0]
    assert (accepted["type"], accepted["status"]) == ("Accepted", "True")


class KeyServer:
    """Serves one key set at ``/keys.json`` and counts the fetches."""

    def __init__(self, address: tuple[str, int], jwks: str) -> None:
        served = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                served.fetches += 1
                body = jwks.encode() if self.path == "/keys.json" else b""
                self.send_response(200 if body else 404)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.fetches = 0
        self.server = ThreadingHTTPServer(address, Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> KeyServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


def test_jwt_with_a_remote_key_set(scenario: Scenario) -> None:
    host = "jwks.example.com"
    name = "jwks-remote"
    key, stranger = SigningKey("remote-rsa"), SigningKey("remote-rsa")
    issuer = "https://issuer.jwks.example.com"
    with KeyServer(("127.0.63.3", 0), key.jwks()) as keys:
        remote = {"backendRef": m.backend("jwks", 8082), "path": "/keys.json"}
        provider = {"issuer": issuer, "jwks": {"remote": remote}}
        scenario.apply(
            name,
            *m.service("jwks", NAMESPACE, [f"127.0.63.3:{keys.port}"], port=8082),
            route(name, host, [to("echo-1")]),
            policy(
                name,
                m.policy_target("HTTPRoute", name),
                {"jwtAuthentication": {"providers": [provider]}},
            ),
        )
        claims = {"iss": issuer, "exp": int(time.time()) + 600}

        def bearer(signer: SigningKey) -> dict[str, str]:
            return {"authorization": f"Bearer {signer.token(claims)}"}

        scenario.eventually_status(host, "/", 401)
        # The first requests may come before the set is fetched: they fail closed.
        scenario.eventually_status(host, "/", 200, headers=bearer(key))
        assert keys.fetches >= 1
        assert scenario.get(host, "/", headers=bearer(stranger)).status_code == 401
        assert scenario.get(host, "/").status_code == 401
