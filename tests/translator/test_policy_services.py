"""Services an AgentgatewayPolicy names (a rate limit service, a key server) that cannot be
used: the limit or provider stays out and the policy's status says which and why. Leaves the
resolvable cases to the agwpolicy-rls-* and agwpolicy-jwks-* golden cases."""

from __future__ import annotations

from pathlib import Path

from tests.translator.test_golden_gatewayapi import load_case
from translator.gatewayapi import translate_gateway_api

CASE = Path(__file__).parent / "testdata" / "gatewayapi" / "agwpolicy-rls-agw.in.yaml"


def _policy_message(text: str, tmp_path: Path) -> str:
    path = tmp_path / "case.yaml"
    path.write_text(text)
    resources, options, _ = load_case(path)
    result = translate_gateway_api(resources, options)
    [status] = [s for key, s in result.statuses.items() if key.name == "global-limit"]
    return str(status["ancestors"][0]["conditions"][0]["message"])


def test_a_missing_rate_limit_service_is_named_in_the_status(tmp_path: Path) -> None:
    text = CASE.read_text()
    assert "name: global-limit" in text
    assert "rateLimit.global.backendRef" not in _policy_message(text, tmp_path)
    missing = text.replace("backendRef: {name: rls, namespace: infra, port: 8081}",
                           "backendRef: {name: gone, namespace: infra, port: 8081}")  # fmt: skip
    message = _policy_message(missing, tmp_path)
    assert "traffic.rateLimit.global.backendRef: the rate limit service cannot be used" in message
    assert "Service infra/gone does not exist" in message
