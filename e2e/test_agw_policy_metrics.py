"""End to end, on both data planes: AgentgatewayPolicy ``frontend.metrics``.

On the agw proxy: after requests with a tenant header, the proxy's /metrics shows
``agw_requests_labelled_total`` with the CEL label values. On Envoy: the policy status says
the field is not enforced there while traffic still flows. Leaves out counting details
(tests/dataplane/test_policy_metrics.py) and the translation (golden agwpolicy-metrics).

The proxy's admin address is found through its process: ``agw run`` starts one proxy per
Gateway with ``--admin-address-path`` in a private directory and ``--gateway NS/NAME``."""

from __future__ import annotations

import urllib.request
from pathlib import Path
from typing import Any

from e2e import manifests as m
from e2e.conftest import NAMESPACE, Scenario
from e2e.harness import eventually
from e2e.test_agw_policy_auth import NOT_ON_ENVOY, accepted_message
from e2e.test_agw_policy_last import policy_message
from e2e.test_routing import route, to

GATEWAY = "pmetrics"
PARENT = [{"name": GATEWAY}]
HOST = "metrics.pmetrics.example.com"


def frontend_policy(name: str, frontend: dict[str, Any]) -> dict[str, Any]:
    return m.agw_policy(name, NAMESPACE, m.policy_target("Gateway", GATEWAY), frontend=frontend)


def proxy_admin(agw_pid: int, gateway: str) -> str | None:
    """The admin address of the agw proxy ``agw run`` (``agw_pid``) started for ``gateway``."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            args = (proc / "cmdline").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue  # exited while we looked
        if ppid != agw_pid or b"--gateway" not in args or b"--admin-address-path" not in args:
            continue
        if args[args.index(b"--gateway") + 1].decode() != gateway:
            continue
        path = Path(args[args.index(b"--admin-address-path") + 1].decode())
        return path.read_text().strip() if path.exists() and path.read_text().strip() else None
    return None


def proxy_metrics(address: str) -> str:
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=5) as response:
        return str(response.read().decode())


def test_request_metric_labels(scenario: Scenario) -> None:
    metrics = {
        "attributes": {
            "add": [
                {"name": "tenant", "expression": 'request.headers["x-tenant"]'},
                {"name": "code", "expression": "string(response.code)"},
            ]
        }
    }
    scenario.apply(
        "pmetrics",
        m.gateway(GATEWAY, NAMESPACE, [m.http_listener("http", 8080)]),
        route("pmetrics", HOST, [to("echo-1")], PARENT),
        frontend_policy("pmetrics", {"metrics": metrics}),
    )
    message = accepted_message(scenario, "pmetrics")
    scenario.eventually_status(HOST, "/", 200, gateway=GATEWAY)
    if scenario.gw.dataplane == "envoy":
        message = policy_message(scenario, "pmetrics", "frontend.metrics")
        assert f"{NOT_ON_ENVOY}: frontend.metrics" in message
        return
    assert NOT_ON_ENVOY not in message
    admin = eventually(
        lambda: proxy_admin(scenario.gw.process.pid, f"{NAMESPACE}/{GATEWAY}"),
        what="the pmetrics proxy's admin address",
    )
    sample = 'tenant="acme"'

    def labelled() -> str | None:
        scenario.get(HOST, "/", gateway=GATEWAY, headers={"x-tenant": "acme"})
        text = proxy_metrics(admin)
        lines = [line for line in text.splitlines() if line.startswith("agw_requests_labelled")]
        return next((line for line in lines if sample in line and 'code="200"' in line), None)

    line = eventually(labelled, what="agw_requests_labelled_total with tenant=acme")
    assert 'listener="' in line
