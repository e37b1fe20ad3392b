"""End to end: filters. Request and response header modifiers (route and backendRef),
redirects (scheme, host, port, path, every status code), URL rewrites, mirroring."""

from __future__ import annotations

import pytest

from e2e import manifests as m
from e2e.conftest import Scenario
from e2e.harness import eventually
from e2e.test_routing import route, to


def test_request_header_modifier(scenario: Scenario) -> None:
    host = "reqheaders.example.com"
    rule = to("echo-1")
    rule["filters"] = [
        {
            "type": "RequestHeaderModifier",
            "requestHeaderModifier": {
                "set": [{"name": "X-Set", "value": "new"}],
                "add": [{"name": "X-Add", "value": "added"}],
                "remove": ["X-Remove"],
            },
        }
    ]
    scenario.apply("reqheaders", route("reqheaders", host, [rule]))
    scenario.eventually_status(host, "/", 200)
    seen = scenario.get(
        host, "/", headers={"x-set": "old", "x-add": "old", "x-remove": "gone"}
    ).json()["headers"]
    assert seen["x-set"] == "new"
    assert seen["x-add"] in ("old,added", ["old", "added"])
    assert "x-remove" not in seen


def test_response_header_modifier(scenario: Scenario) -> None:
    host = "respheaders.example.com"
    rule = to("echo-1")
    rule["filters"] = [
        {
            "type": "ResponseHeaderModifier",
            "responseHeaderModifier": {
                "set": [{"name": "X-Resp", "value": "set"}],
                "add": [{"name": "X-Extra", "value": "one"}],
                "remove": ["X-Echo-Backend"],
            },
        }
    ]
    scenario.apply("respheaders", route("respheaders", host, [rule]))
    response = scenario.eventually_status(host, "/", 200)
    assert response.headers["x-resp"] == "set"
    assert response.headers["x-extra"] == "one"
    assert "x-echo-backend" not in response.headers
    assert response.headers["content-type"].startswith("application/json")


def test_backend_ref_header_filters(scenario: Scenario) -> None:
    host = "backendfilters.example.com"
    backend_ref = m.backend(
        "echo-2",
        filters=[
            {
                "type": "RequestHeaderModifier",
                "requestHeaderModifier": {"set": [{"name": "x-backend", "value": "two"}]},
            }
        ],
    )
    scenario.apply(
        "backendfilters", route("backendfilters", host, [{"backendRefs": [backend_ref]}])
    )
    response = scenario.eventually_status(host, "/", 200)
    assert response.json()["headers"]["x-backend"] == "two"


def redirect_rule(prefix: str, **redirect: object) -> dict[str, object]:
    return {
        "matches": [{"path": {"type": "PathPrefix", "value": prefix}}],
        "filters": [{"type": "RequestRedirect", "requestRedirect": redirect}],
    }


def test_redirects(scenario: Scenario) -> None:
    host = "redirects.example.com"
    scenario.apply(
        "redirects",
        route(
            "redirects",
            host,
            [
                redirect_rule("/scheme", scheme="https", statusCode=301),
                redirect_rule("/host", hostname="moved.example.com"),
                redirect_rule("/port", port=9443),
                redirect_rule("/full", path={"type": "ReplaceFullPath", "replaceFullPath": "/new"}),
                redirect_rule(
                    "/prefix", path={"type": "ReplacePrefixMatch", "replacePrefixMatch": "/moved"}
                ),
            ],
        ),
    )
    response = scenario.eventually_status(host, "/scheme/x", 301)
    assert response.headers["location"] == f"https://{host}/scheme/x"
    response = scenario.get(host, "/host")
    assert response.status_code == 302
    assert response.headers["location"] == "http://moved.example.com:8080/host"
    assert scenario.get(host, "/port").headers["location"] == f"http://{host}:9443/port"
    assert scenario.get(host, "/full/a?q=1").headers["location"] == f"http://{host}:8080/new?q=1"
    assert scenario.get(host, "/prefix/a/b").headers["location"] == f"http://{host}:8080/moved/a/b"


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
def test_redirect_status_codes(scenario: Scenario, code: int) -> None:
    host = f"code{code}.example.com"
    scenario.apply(
        f"code{code}",
        route(
            f"code{code}",
            host,
            [redirect_rule("/", statusCode=code, hostname="elsewhere.example.com")],
        ),
    )
    response = scenario.eventually_status(host, "/x", code)
    assert response.headers["location"] == "http://elsewhere.example.com:8080/x"


def test_url_rewrite_host_and_prefix(scenario: Scenario) -> None:
    host = "rewrite.example.com"
    rule = to("echo-1", path={"type": "PathPrefix", "value": "/old"})
    rule["filters"] = [
        {
            "type": "URLRewrite",
            "urlRewrite": {
                "hostname": "internal.example.com",
                "path": {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/new"},
            },
        }
    ]
    full = to("echo-1", path={"type": "PathPrefix", "value": "/full"})
    full["filters"] = [
        {
            "type": "URLRewrite",
            "urlRewrite": {"path": {"type": "ReplaceFullPath", "replaceFullPath": "/one"}},
        }
    ]
    scenario.apply("rewrite", route("rewrite", host, [rule, full]))
    body = scenario.eventually_status(host, "/old/a?k=v", 200).json()
    assert body["path"] == "/new/a?k=v"
    assert body["host"] == "internal.example.com"
    assert scenario.get(host, "/old").json()["path"] == "/new"
    assert scenario.get(host, "/full/x/y?z=1").json()["path"] == "/one?z=1"


def test_request_mirror(scenario: Scenario) -> None:
    host = "mirror.example.com"
    rule = to("echo-1")
    rule["filters"] = [
        {"type": "RequestMirror", "requestMirror": {"backendRef": m.backend("echo-6")}}
    ]
    scenario.apply("mirror", route("mirror", host, [rule]))
    scenario.eventually_status(host, "/", 200)
    before = scenario.echo.requests("127.0.61.6:9000")
    for _ in range(5):
        assert scenario.get(host, "/").json()["address"] == "127.0.61.1:9000"
    eventually(
        lambda: scenario.echo.requests("127.0.61.6:9000") >= before + 5, what="mirrored requests"
    )
