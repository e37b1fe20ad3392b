"""Routing features end to end: a real proxy on loopback in front of real echo backends.

Covers forwarding by path, header and method; weighted clusters (including the fault abort
that answers 500 for an invalid backend's share); header add/set/remove at route, virtual host
and cluster-weight level; prefix, regex and host rewrites; redirects; direct responses;
x-forwarded-for/-proto and x-request-id; hop-by-hop removal; server/date; and the local replies
404 (no route), 503 (no endpoints, connect failure, unknown cluster). Protocol mechanics
(keep-alive, chunked, limits, timeouts) are in test_http1.py.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from envoy.extensions.filters.http.fault.v3 import fault_pb2
from envoy.type.matcher.v3 import regex_pb2

from tests.dataplane import resources as r
from tests.dataplane.client import Connection, fetch, get, request_bytes
from tests.dataplane.conftest import BACKEND_HOST, Backends, Serve, free_port


async def test_forwards_path_query_and_method_to_the_chosen_cluster(
    serve: Serve, backends: Backends
) -> None:
    api, web = await backends("api"), await backends("web")
    post_only = r.Route(
        name="post",
        match=r.RouteMatch(
            prefix="/api", headers=[r.HeaderMatcher(name=":method", exact_match="POST")]
        ),
        route=r.RouteAction(cluster="api"),
    )
    host, port = await serve(post_only, r.to_cluster("web"), clusters={"api": [api], "web": [web]})
    posted = await fetch(host, port, request_bytes("POST", "/api/x?q=1&q=2", body=b"hi"))
    assert posted.status == 200
    assert posted.json()["backend"] == "api"
    assert posted.json()["target"] == "/api/x?q=1&q=2"
    assert posted.json()["body"] == "hi"
    got = await fetch(host, port, get("/api/x"))
    assert got.json()["backend"] == "web"


async def test_no_route_is_404_and_unknown_cluster_is_503(serve: Serve, backends: Backends) -> None:
    web = await backends("web")
    host, port = await serve(
        r.to_cluster("web", "/known"), r.to_cluster("missing", "/gone"), clusters={"web": [web]}
    )
    missing_route = await fetch(host, port, get("/other"))
    assert missing_route.status == 404
    assert missing_route.header("server") == "agw"
    assert missing_route.header("date")
    assert (await fetch(host, port, get("/gone"))).status == 503


async def test_weighted_clusters_split_and_fault_abort_answers_500(
    serve: Serve, backends: Backends
) -> None:
    a, b = await backends("a"), await backends("b")
    route = r.Route(name="split", match=r.RouteMatch(prefix="/"))
    for name, weight in (("a", 50), ("b", 30), ("invalid", 20)):
        cw = route.route.weighted_clusters.clusters.add(name=name)
        cw.weight.value = weight
        if name == "invalid":
            fault = fault_pb2.HTTPFault()
            fault.abort.http_status = 500
            fault.abort.percentage.numerator = 100
            cw.typed_per_filter_config["envoy.filters.http.fault"].Pack(fault)
        else:
            cw.request_headers_to_add.append(r.header("x-chosen", name))
    host, port = await serve(route, clusters={"a": [a], "b": [b]})
    seen: Counter[str] = Counter()
    connection = await Connection.open(host, port)
    for _ in range(400):
        response = await connection.request(get("/"))
        if response.status == 500:
            seen["500"] += 1
            assert response.body == b"fault filter abort"
            connection = await Connection.open(host, port) if connection.closed else connection
            continue
        assert response.status == 200
        body = response.json()
        assert response.echoed("x-chosen") == [body["backend"]]
        seen[body["backend"]] += 1
    await connection.close()
    # 50/30/20 of 400 requests; bounds are about four standard deviations wide.
    assert 160 <= seen["a"] <= 240 and 80 <= seen["b"] <= 160 and 45 <= seen["500"] <= 115


async def test_header_mutations_at_every_level(serve: Serve, backends: Backends) -> None:
    web = await backends("web")
    route = r.Route(name="m", match=r.RouteMatch(prefix="/"))
    cw = route.route.weighted_clusters.clusters.add(name="web")
    cw.weight.value = 1
    cw.request_headers_to_add.append(r.header("x-level", "cluster-weight"))
    route.request_headers_to_add.extend(
        [
            r.header("x-add", "route"),
            r.header("x-set", "route", "OVERWRITE_IF_EXISTS_OR_ADD"),
            r.header("x-absent", "route", "ADD_IF_ABSENT"),
        ]
    )
    route.request_headers_to_remove.append("x-remove")
    route.response_headers_to_add.append(r.header("x-response", "route"))
    route.response_headers_to_remove.append("content-type")
    vhost = r.vhost("v", ["*"], route)
    vhost.request_headers_to_add.append(r.header("x-vhost", "yes"))
    host, port = await serve(vhosts=[vhost], clusters={"web": [web]})
    response = await fetch(
        host,
        port,
        get(
            "/",
            headers={"X-Add": "client", "X-Set": "client", "X-Absent": "client", "X-Remove": "1"},
        ),
    )
    assert response.status == 200
    assert response.echoed("x-add") == ["client", "route"]
    assert response.echoed("x-set") == ["route"]
    assert response.echoed("x-absent") == ["client"]
    assert response.echoed("x-remove") == []
    assert response.echoed("x-vhost") == ["yes"]
    assert response.echoed("x-level") == ["cluster-weight"]
    assert response.header("x-response") == "route"
    assert response.header("content-type") is None


async def test_prefix_regex_and_host_rewrites(serve: Serve, backends: Backends) -> None:
    web = await backends("web")
    prefix = r.Route(
        name="prefix",
        match=r.RouteMatch(path_separated_prefix="/old"),
        route=r.RouteAction(
            cluster="web", prefix_rewrite="/new", host_rewrite_literal="backend.local"
        ),
    )
    regex = r.Route(
        name="regex", match=r.RouteMatch(prefix="/v1/"), route=r.RouteAction(cluster="web")
    )
    regex.route.regex_rewrite.pattern.CopyFrom(regex_pb2.RegexMatcher(regex="^/v1/([^/]+)/(.*)$"))
    regex.route.regex_rewrite.substitution = "/\\2/\\1"
    host, port = await serve(prefix, regex, clusters={"web": [web]})
    moved = (await fetch(host, port, get("/old/page?a=b"))).json()
    assert moved["target"] == "/new/page?a=b"
    assert [v for k, v in moved["headers"] if k == "host"] == ["backend.local"]
    swapped = (await fetch(host, port, get("/v1/users/42"))).json()
    assert swapped["target"] == "/42/users"


async def test_redirects_follow_envoy_location_rules(serve: Serve) -> None:
    def redirect(name: str, prefix: str, **fields: object) -> Any:
        route = r.Route(name=name, match=r.RouteMatch(prefix=prefix))
        for key, value in fields.items():
            setattr(route.redirect, key, value)
        return route

    host, port = await serve(
        redirect("https", "/secure", scheme_redirect="https"),
        redirect("port", "/port", port_redirect=8080, response_code=1),
        redirect("default-port", "/default", scheme_redirect="https", port_redirect=443),
        redirect("path", "/path", path_redirect="/elsewhere", response_code=4),
        redirect("prefix", "/pre", prefix_rewrite="/post", host_redirect="new.example"),
    )
    cases = {
        "/secure/x?q=1": (301, "https://example.com/secure/x?q=1"),
        "/port": (302, "http://example.com:8080/port"),
        "/default": (301, "https://example.com/default"),
        # Same scheme, no port redirect: the request's host is kept as sent (Envoy's newUri).
        "/path/a?keep=1": (308, "http://example.com:80/elsewhere?keep=1"),
        "/pre/fix": (301, "http://new.example/post/fix"),
    }
    for path, (status, location) in cases.items():
        response = await fetch(host, port, get(path, host="example.com:80"))
        assert (response.status, response.header("location")) == (status, location), path


async def test_direct_response_with_body(serve: Serve) -> None:
    route = r.Route(name="direct", match=r.RouteMatch(prefix="/"))
    route.direct_response.status = 418
    route.direct_response.body.inline_string = "short and stout"
    route.response_headers_to_add.append(r.header("x-teapot", "yes"))
    host, port = await serve(route)
    response = await fetch(host, port, get("/"))
    assert (response.status, response.body) == (418, b"short and stout")
    assert response.header("content-type") == "text/plain"
    assert response.header("x-teapot") == "yes"


async def test_forwarded_headers_request_id_and_hop_by_hop(
    serve: Serve, backends: Backends
) -> None:
    web = await backends("web")
    host, port = await serve(
        r.to_cluster("web"), clusters={"web": [web]}, use_remote_address={"value": True}
    )
    response = await fetch(
        host,
        port,
        get(
            "/",
            headers={
                "X-Forwarded-For": "203.0.113.7",
                "X-Forwarded-Proto": "https",
                "Connection": "keep-alive, x-hop",
                "X-Hop": "secret",
                "Keep-Alive": "timeout=5",
                "Proxy-Connection": "keep-alive",
            },
        ),
    )
    assert response.echoed("x-forwarded-for") == ["203.0.113.7,127.0.0.1"]
    assert response.echoed("x-forwarded-proto") == ["http"]
    (request_id,) = response.echoed("x-request-id")
    assert len(request_id) == 36 and request_id.count("-") == 4
    for hop in ("connection", "x-hop", "keep-alive", "proxy-connection"):
        assert response.echoed(hop) == []
    assert response.header("server") == "agw"  # the backend's "server: echo" is replaced
    kept = await fetch(host, port, get("/", headers={"X-Request-Id": "given"}))
    assert kept.echoed("x-request-id") == ["given"]


async def test_no_endpoints_and_connect_failure_are_503(serve: Serve) -> None:
    dead_port = free_port(BACKEND_HOST)
    host, port = await serve(
        r.to_cluster("empty", "/empty"),
        r.to_cluster("dead", "/dead"),
        cluster_protos=[r.cluster("empty"), r.cluster("dead", connect_timeout=0.5)],
        clusters={"empty": [], "dead": [(BACKEND_HOST, dead_port)]},
    )
    empty = await fetch(host, port, get("/empty"))
    assert (empty.status, empty.body) == (503, b"no healthy upstream")
    failed = await fetch(host, port, get("/dead"))
    assert failed.status == 503
    assert b"connection failure" in failed.body


async def test_host_port_stripping_and_path_normalization(serve: Serve, backends: Backends) -> None:
    web = await backends("web")
    vhost = r.vhost("named", ["example.com"], r.to_cluster("web", "/a/"))
    host, port = await serve(
        vhosts=[vhost],
        clusters={"web": [web]},
        strip_any_host_port=True,
        normalize_path={"value": True},
        merge_slashes=True,
    )
    response = await fetch(host, port, get("/x/../a//b/./c?q=1", host="Example.com:8080"))
    assert response.status == 200
    echoed = response.json()
    assert echoed["target"] == "/a/b/c?q=1"
    assert [v for k, v in echoed["headers"] if k == "host"] == ["Example.com"]
