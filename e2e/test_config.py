"""End to end: configuration life cycle. Live edits of the directory (including under
continuous traffic, with zero failed requests), a Gateway with several listeners and ports,
several Gateways at once, attachedRoutes following attach and detach, and bad input (malformed
YAML, unknown fields, conflicting listeners) reported while everything else keeps working."""

from __future__ import annotations

import os
import signal
import threading
from collections import Counter
from pathlib import Path

import httpx

from e2e import manifests as m
from e2e.conftest import NAMESPACE, Scenario
from e2e.harness import eventually
from e2e.test_routing import route, served_by, to


def test_live_edit_switches_backend(scenario: Scenario) -> None:
    host = "edit.example.com"
    scenario.apply("edit", route("edit", host, [to("echo-1")]))
    assert served_by(scenario.eventually_status(host, "/", 200)) == "127.0.61.1:9000"
    scenario.apply("edit", route("edit", host, [to("echo-2")]))
    eventually(
        lambda: served_by(scenario.get(host, "/")) == "127.0.61.2:9000", what="switched backend"
    )
    scenario.delete("edit")
    scenario.eventually_status(host, "/", 404)


def test_switching_backends_under_traffic_fails_nothing(scenario: Scenario) -> None:
    host = "churn.example.com"
    scenario.apply("churn", route("churn", host, [to("echo-1")]))
    scenario.eventually_status(host, "/", 200)
    statuses: Counter[int] = Counter()
    stop = threading.Event()
    url = scenario.base_url() + "/"

    def client() -> None:
        with httpx.Client(timeout=5) as c:
            for _ in range(20_000):  # bounded; stops far earlier
                if stop.is_set():
                    return
                try:
                    statuses[c.get(url, headers={"host": host}).status_code] += 1
                except httpx.HTTPError:
                    statuses[0] += 1

    worker = threading.Thread(target=client)
    worker.start()
    try:
        for i in range(10):
            backend = "echo-2" if i % 2 == 0 else "echo-1"
            scenario.apply("churn", route("churn", host, [to(backend)]))
            expected = "127.0.61.2:9000" if backend == "echo-2" else "127.0.61.1:9000"
            eventually(
                lambda e=expected: served_by(scenario.get(host, "/")) == e, what=f"switch {i}"
            )
    finally:
        stop.set()
        worker.join(10)
    assert set(statuses) == {200}, statuses
    assert statuses[200] > 50


def test_several_listeners_and_ports(scenario: Scenario) -> None:
    scenario.apply(
        "ports",
        m.gateway(
            "ports", NAMESPACE, [m.http_listener("web", 8080), m.http_listener("admin", 9090)]
        ),
        m.http_route(
            "ports-web", NAMESPACE, [to("echo-1")], [{"name": "ports", "sectionName": "web"}]
        ),
        m.http_route("ports-admin", NAMESPACE, [to("echo-2")], [{"name": "ports", "port": 9090}]),
    )
    scenario.gw.wait_condition("Gateway", NAMESPACE, "ports", "Programmed")
    assert (
        served_by(scenario.eventually_status("x", "/", 200, gateway="ports")) == "127.0.61.1:9000"
    )
    response = eventually(
        lambda: (r := scenario.get("x", "/", gateway="ports", port=9090)).status_code == 200 and r,
        what="port 9090",
    )
    assert served_by(response) == "127.0.61.2:9000"


def test_several_gateways_get_their_own_addresses(scenario: Scenario) -> None:
    docs = []
    for name in ("multi-a", "multi-b"):
        docs.append(m.gateway(name, NAMESPACE, [m.http_listener("http", 8080)]))
        docs.append(
            m.http_route(
                name, NAMESPACE, [to("echo-3" if name == "multi-a" else "echo-4")], [{"name": name}]
            )
        )
    scenario.apply("multi", *docs)
    for name in ("multi-a", "multi-b"):
        scenario.gw.wait_condition("Gateway", NAMESPACE, name, "Programmed")
    a = scenario.gw.address_of(NAMESPACE, "multi-a")
    b = scenario.gw.address_of(NAMESPACE, "multi-b")
    assert a != b and a.startswith("127.0.60.") and b.startswith("127.0.60.")
    assert (
        served_by(scenario.eventually_status("x", "/", 200, gateway="multi-a")) == "127.0.61.3:9000"
    )
    assert (
        served_by(scenario.eventually_status("x", "/", 200, gateway="multi-b")) == "127.0.61.4:9000"
    )


def attached_routes(scenario: Scenario, gateway: str) -> int:
    obj = scenario.gw.object("Gateway", NAMESPACE, gateway)
    return int(obj["status"]["listeners"][0]["attachedRoutes"]) if obj else -1


def test_attached_routes_follow_attach_and_detach(scenario: Scenario) -> None:
    scenario.apply("count-gw", m.gateway("count", NAMESPACE, [m.http_listener("http", 8080)]))
    scenario.gw.wait_condition("Gateway", NAMESPACE, "count", "Programmed")
    assert attached_routes(scenario, "count") == 0
    scenario.apply(
        "count-r1", m.http_route("count-1", NAMESPACE, [to("echo-1")], [{"name": "count"}])
    )
    scenario.apply(
        "count-r2",
        m.http_route(
            "count-2", NAMESPACE, [to("echo-1")], [{"name": "count"}], hostnames=["a.example.com"]
        ),
    )
    eventually(lambda: attached_routes(scenario, "count") == 2, what="2 attached routes")
    scenario.delete("count-r1")
    eventually(lambda: attached_routes(scenario, "count") == 1, what="1 attached route")


def test_malformed_yaml_is_reported_and_the_rest_keeps_working(scenario: Scenario) -> None:
    host = "sturdy.example.com"
    scenario.apply("sturdy", route("sturdy", host, [to("echo-1")]))
    scenario.eventually_status(host, "/", 200)
    scenario.files.append("broken")
    scenario.gw.config_dir.joinpath("broken.yaml").write_text("apiVersion: v1\nkind: [unclosed\n")
    eventually(
        lambda: any(p.startswith("broken.yaml") for p in scenario.gw.problems()),
        what="problem reported",
    )
    assert scenario.get(host, "/").status_code == 200
    # A file that breaks keeps its last good content.
    scenario.gw.config_dir.joinpath("sturdy.yaml").write_text("kind: [oops\n")
    eventually(
        lambda: any(p.startswith("sturdy.yaml") for p in scenario.gw.problems()),
        what="problem reported",
    )
    assert scenario.get(host, "/").status_code == 200


def test_unknown_field_is_reported(scenario: Scenario) -> None:
    host = "typo.example.com"
    bad = route("typo", host, [to("echo-1")])
    bad["spec"]["rules"][0]["backendRefz"] = []
    scenario.apply("typo", bad)
    eventually(
        lambda: any("backendRefz" in p for p in scenario.gw.problems()),
        what="unknown field reported",
    )
    assert scenario.get(host, "/").status_code == 404


def test_conflicting_listeners_are_reported(scenario: Scenario) -> None:
    listeners = [m.http_listener("plain", 8443), m.https_listener("secure", 8443, ["nope"])]
    scenario.apply(
        "conflict",
        m.gateway("conflict", NAMESPACE, listeners),
        m.http_route(
            "conflict", NAMESPACE, [to("echo-1")], [{"name": "conflict", "sectionName": "plain"}]
        ),
    )
    obj = scenario.gw.wait_condition(
        "Gateway", NAMESPACE, "conflict", "Conflicted", "True", "ProtocolConflict"
    )
    secure = next(
        listener for listener in obj["status"]["listeners"] if listener["name"] == "secure"
    )
    assert {c["type"]: c["status"] for c in secure["conditions"]}["Conflicted"] == "True"
    assert (
        served_by(scenario.eventually_status("x", "/", 200, gateway="conflict", port=8443))
        == "127.0.61.1:9000"
    )


def _proxy_pids(agw_pid: int, gateway: str) -> list[int]:
    """Child processes of `agw run` serving ``gateway`` (by their command line)."""
    pids = []
    children = Path(f"/proc/{agw_pid}/task/{agw_pid}/children").read_text().split()
    for child in children:
        try:
            command = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        # agw proxy names its gateway; Envoy runs from the gateway's work directory.
        if f"--gateway {gateway} " in command or f"/{gateway.replace('/', '_')}/" in command:
            pids.append(int(child))
    return pids


def test_a_crashed_proxy_is_restarted(scenario: Scenario) -> None:
    scenario.apply(
        "crash",
        m.gateway("crash", NAMESPACE, [m.http_listener("http", 8080)]),
        m.http_route("crash", NAMESPACE, [to("echo-1")], [{"name": "crash"}]),
    )
    scenario.gw.wait_condition("Gateway", NAMESPACE, "crash", "Programmed")
    scenario.eventually_status("x", "/", 200, gateway="crash")
    agw = scenario.gw.process.pid
    (victim,) = eventually(lambda: _proxy_pids(agw, f"{NAMESPACE}/crash"), what="the proxy process")
    os.kill(victim, signal.SIGKILL)
    eventually(
        lambda: _proxy_pids(agw, f"{NAMESPACE}/crash") not in ([], [victim]), what="a new proxy"
    )
    scenario.eventually_status("x", "/", 200, gateway="crash")
    assert "restarting" in scenario.gw.log.read_text()
