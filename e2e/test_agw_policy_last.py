"""End to end, on both data planes: the AgentgatewayPolicy settings only the agw proxy
enforces among basic and API-key authentication and retries.

On the agw proxy: Optional basic authentication (no credentials pass, wrong ones answer 401
with the realm's WWW-Authenticate), a bcrypt user logging in;
Optional API keys (no key passes, an unknown one answers 401) with a key's metadata in CEL;
retry precondition and condition (CEL) counted by the attempts the backend saw. On Envoy: the
statuses naming these parts as agw-only (and the bcrypt user, whom Envoy cannot verify) while
traffic still flows and the rest applies.
Leaves out the finer semantics (tests/dataplane/test_policy_last.py) and the translation
(goldens agwpolicy-last-*)."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from e2e import manifests as m
from e2e.conftest import BACKENDS, NAMESPACE, Scenario
from e2e.harness import eventually
from e2e.test_agw_policy_auth import NOT_ON_ENVOY, accepted_message, policy
from e2e.test_routing import route, to

GATEWAY = "plast"
PARENT = [{"name": GATEWAY}]
BCRYPT_USER = "dave:$2y$05$abcdefghijklmnopqrstuuQ.2ShTW/tI0Q34a2aAgfTLW89BP8lS2"


def gateway() -> dict[str, Any]:
    return m.gateway(GATEWAY, NAMESPACE, [m.http_listener("http", 8080)])


def is_envoy(scenario: Scenario) -> bool:
    return scenario.gw.dataplane == "envoy"


def policy_message(scenario: Scenario, name: str, part: str) -> str:
    """The policy's Accepted message once it names ``part``."""

    def probe() -> str | None:
        found = accepted_message(scenario, name)
        return found if part in found else None

    return eventually(probe, what=f"AgentgatewayPolicy {name} naming {part}")


def test_optional_basic_authentication_with_a_realm(scenario: Scenario) -> None:
    host = "basic.plast.example.com"
    digest = base64.b64encode(hashlib.sha1(b"alice-pw").digest()).decode()
    basic = {
        "mode": "Optional",
        "realm": "staff",
        "users": [f"alice:{{SHA}}{digest}", BCRYPT_USER],
    }
    scenario.apply(
        "plast-basic",
        gateway(),
        route("plast-basic", host, [to("echo-1")], PARENT),
        policy("plast-basic", "HTTPRoute", "plast-basic", {"basicAuthentication": basic}),
    )
    if is_envoy(scenario):
        # Envoy verifies {SHA} hashes only: the bcrypt user is named, and cannot log in.
        message = policy_message(scenario, "plast-basic", "cannot log in: dave")
        assert f"{NOT_ON_ENVOY}: traffic.basicAuthentication.mode=Optional" in message
        assert "traffic.basicAuthentication.realm" in message
        scenario.eventually_status(host, "/", 200, gateway=GATEWAY)
        return
    message = policy_message(scenario, "plast-basic", "Policy accepted")
    assert NOT_ON_ENVOY not in message and "dave" not in message
    scenario.eventually_status(host, "/", 401, gateway=GATEWAY, auth=("alice", "nope"))
    refused = scenario.get(host, "/", gateway=GATEWAY, auth=("alice", "nope"))
    assert refused.headers["www-authenticate"] == 'Basic realm="staff"'
    assert scenario.get(host, "/", gateway=GATEWAY).status_code == 200
    assert scenario.get(host, "/", gateway=GATEWAY, auth=("alice", "alice-pw")).status_code == 200
    assert scenario.get(host, "/", gateway=GATEWAY, auth=("dave", "dave-pw")).status_code == 200
    assert scenario.get(host, "/", gateway=GATEWAY, auth=("dave", "nope")).status_code == 401


def test_optional_api_keys_with_metadata(scenario: Scenario) -> None:
    host = "apikey.plast.example.com"
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "plast-keys", "namespace": NAMESPACE},
        "stringData": {"ops": '{"key": "key-ops-456", "metadata": {"team": "ops"}}'},
    }
    traffic = {
        "apiKeyAuthentication": {"mode": "Optional", "secretRef": "plast-keys"},
        "transformation": {
            "request": {"set": [{"name": "x-team", "value": "apiKey.metadata.team"}]}
        },
    }
    scenario.apply(
        "plast-apikey",
        gateway(),
        secret,
        route("plast-apikey", host, [to("echo-1")], PARENT),
        policy("plast-apikey", "HTTPRoute", "plast-apikey", traffic),
    )
    if is_envoy(scenario):
        part = "traffic.apiKeyAuthentication.mode=Optional"
        assert NOT_ON_ENVOY in policy_message(scenario, "plast-apikey", part)
        scenario.eventually_status(host, "/", 200, gateway=GATEWAY)
        return
    unknown = {"authorization": "Bearer nope"}
    scenario.eventually_status(host, "/", 401, gateway=GATEWAY, headers=unknown)
    assert scenario.get(host, "/", gateway=GATEWAY).status_code == 200
    known = scenario.get(
        host, "/", gateway=GATEWAY, headers={"authorization": "Bearer key-ops-456"}
    )
    assert known.status_code == 200
    assert known.json()["headers"]["x-team"] == "ops"


def test_retry_precondition_and_condition(scenario: Scenario) -> None:
    host = "retry.plast.example.com"
    backend = BACKENDS["echo-5"]
    retry = {
        "attempts": 2,
        "backoff": "10ms",
        "precondition": "request.method == 'GET'",
        "condition": "response.code == 503",
    }
    scenario.apply(
        "plast-retry",
        gateway(),
        *m.service("plast-retry", NAMESPACE, [backend]),
        route("plast-retry", host, [{"backendRefs": [m.backend("plast-retry")]}], PARENT),
        policy("plast-retry", "HTTPRoute", "plast-retry", {"retry": retry}),
    )
    message = policy_message(scenario, "plast-retry", "Policy accepted")
    scenario.eventually_status(host, "/", 200, gateway=GATEWAY)

    def attempts(method: str) -> int:
        before = scenario.echo.requests(backend)
        answer = scenario.request(method, host, "/?x-echo-status=503", gateway=GATEWAY)
        assert answer.status_code == 503
        return scenario.echo.requests(backend) - before

    if is_envoy(scenario):
        parts = "traffic.retry.condition, traffic.retry.precondition"
        assert f"{NOT_ON_ENVOY}: {parts}" in policy_message(scenario, "plast-retry", parts)
        assert attempts("GET") == 1  # no codes listed: Envoy retries only failed connections
        return
    assert NOT_ON_ENVOY not in message
    assert attempts("GET") == 3
    assert attempts("POST") == 1
