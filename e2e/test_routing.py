"""End to end: matching and precedence. Hostnames and listener isolation, path exact / prefix
/ regex, headers, query parameters, methods, precedence across routes, 404 for no match.
Each runs on every data plane."""

from __future__ import annotations

from typing import Any

from e2e import manifests as m
from e2e.conftest import NAMESPACE, Scenario

PARENT = [{"name": "shared", "namespace": NAMESPACE}]


def route(
    name: str, host: str, rules: list[dict[str, Any]], parents: list[dict[str, Any]] = PARENT
) -> dict[str, Any]:
    return m.http_route(name, NAMESPACE, rules, parents, hostnames=[host])


def to(backend: str, **match: Any) -> dict[str, Any]:
    rule: dict[str, Any] = {"backendRefs": [m.backend(backend)]}
    if match:
        rule["matches"] = [match]
    return rule


def served_by(response: Any) -> str:
    return str(response.json()["address"])


def test_basic_route_reaches_backend(scenario: Scenario) -> None:
    scenario.apply("basic", route("basic", "basic.example.com", [to("echo-1")]))
    response = scenario.eventually_status("basic.example.com", "/hello?x=1&y=%20z", 200)
    body = response.json()
    assert body["address"] == "127.0.61.1:9000"
    assert body["path"] == "/hello?x=1&y=%20z"  # the query string is forwarded byte for byte
    assert body["host"] == "basic.example.com"


def test_unknown_host_is_404(scenario: Scenario) -> None:
    scenario.apply("known", route("known", "known.example.com", [to("echo-1")]))
    scenario.eventually_status("known.example.com", "/", 200)
    assert scenario.get("unknown.example.com", "/").status_code == 404


def test_path_matching_exact_prefix_regex(scenario: Scenario) -> None:
    host = "paths.example.com"
    scenario.apply(
        "paths",
        route(
            "paths",
            host,
            [
                to("echo-1", path={"type": "Exact", "value": "/exact"}),
                to("echo-2", path={"type": "PathPrefix", "value": "/prefix/"}),
                to("echo-3", path={"type": "RegularExpression", "value": "/users/[0-9]+"}),
            ],
        ),
    )
    scenario.eventually_status(host, "/exact", 200)
    assert served_by(scenario.get(host, "/exact")) == "127.0.61.1:9000"
    assert scenario.get(host, "/exact/more").status_code == 404
    assert served_by(scenario.get(host, "/prefix")) == "127.0.61.2:9000"
    assert served_by(scenario.get(host, "/prefix/a/b")) == "127.0.61.2:9000"
    assert scenario.get(host, "/prefixed").status_code == 404  # segment-aware
    assert served_by(scenario.get(host, "/users/42")) == "127.0.61.3:9000"
    assert scenario.get(host, "/users/abc").status_code == 404


def test_header_query_and_method_matches(scenario: Scenario) -> None:
    host = "matches.example.com"
    scenario.apply(
        "matches",
        route(
            "matches",
            host,
            [
                to("echo-1", headers=[{"name": "X-Version", "value": "2"}]),
                to("echo-2", queryParams=[{"name": "beta", "value": "yes"}]),
                to("echo-3", method="POST"),
                to("echo-4"),
            ],
        ),
    )
    scenario.eventually_status(host, "/", 200)
    assert served_by(scenario.get(host, "/", headers={"x-version": "2"})) == "127.0.61.1:9000"
    assert served_by(scenario.get(host, "/?beta=yes")) == "127.0.61.2:9000"
    assert served_by(scenario.request("POST", host, "/", content=b"x")) == "127.0.61.3:9000"
    assert served_by(scenario.get(host, "/")) == "127.0.61.4:9000"


def test_precedence_across_routes(scenario: Scenario) -> None:
    host = "precedence.example.com"
    scenario.apply(
        "precedence",
        route("prec-a", host, [to("echo-1", path={"type": "PathPrefix", "value": "/"})]),
        route("prec-b", host, [to("echo-2", path={"type": "PathPrefix", "value": "/api"})]),
        route("prec-c", host, [to("echo-3", path={"type": "Exact", "value": "/api/v1"})]),
        route(
            "prec-d",
            host,
            [
                to(
                    "echo-4",
                    path={"type": "PathPrefix", "value": "/api"},
                    headers=[{"name": "x-canary", "value": "1"}],
                )
            ],
        ),
    )
    scenario.eventually_status(host, "/api/v1", 200)
    assert served_by(scenario.get(host, "/api/v1")) == "127.0.61.3:9000"
    assert served_by(scenario.get(host, "/api/v2")) == "127.0.61.2:9000"
    assert served_by(scenario.get(host, "/api/v2", headers={"x-canary": "1"})) == "127.0.61.4:9000"
    assert served_by(scenario.get(host, "/other")) == "127.0.61.1:9000"


def test_listener_isolation_and_hostnames(scenario: Scenario) -> None:
    scenario.apply(
        "isolation",
        m.gateway(
            "isolation",
            NAMESPACE,
            [
                m.http_listener("wild", 8080, "*.iso.example.com"),
                m.http_listener("foo", 8080, "foo.iso.example.com"),
                m.http_listener("any", 8080),
            ],
        ),
        m.http_route(
            "iso-foo",
            NAMESPACE,
            [to("echo-1", path={"type": "PathPrefix", "value": "/foo"})],
            [{"name": "isolation", "sectionName": "foo"}],
        ),
        m.http_route(
            "iso-wild", NAMESPACE, [to("echo-2")], [{"name": "isolation", "sectionName": "wild"}]
        ),
        m.http_route(
            "iso-any", NAMESPACE, [to("echo-3")], [{"name": "isolation", "sectionName": "any"}]
        ),
    )
    scenario.gw.wait_condition("Gateway", NAMESPACE, "isolation", "Programmed")
    scenario.eventually_status("foo.iso.example.com", "/foo", 200, gateway="isolation")
    assert (
        served_by(scenario.get("foo.iso.example.com", "/foo", gateway="isolation"))
        == "127.0.61.1:9000"
    )
    # foo.iso.example.com belongs to the foo listener: the wildcard's route never sees it.
    assert scenario.get("foo.iso.example.com", "/other", gateway="isolation").status_code == 404
    assert (
        served_by(scenario.get("bar.iso.example.com", "/foo", gateway="isolation"))
        == "127.0.61.2:9000"
    )
    assert served_by(scenario.get("example.org", "/", gateway="isolation")) == "127.0.61.3:9000"
    status = scenario.gw.object("Gateway", NAMESPACE, "isolation")["status"]  # type: ignore[index]
    assert [listener["attachedRoutes"] for listener in status["listeners"]] == [1, 1, 1]
