"""The compiled route table: virtual host precedence, path/header/query matchers, first match.

Covers Envoy's domain search order (exact, longest suffix wildcard, longest prefix wildcard,
"*"), each path specifier, header matchers (including ``:method``, presence and invert) and
query matchers, plus a Hypothesis comparison against a plain reference model. Forwarding is
left to the integration tests.
"""

from __future__ import annotations

from typing import Any

import pytest
from envoy.type.matcher.v3 import regex_pb2, string_pb2
from hypothesis import given, settings
from hypothesis import strategies as st

from dataplane.config.route import compile_route_configuration
from dataplane.config.route_table import RouteTable
from dataplane.errors import InvalidConfig
from dataplane.request import RequestHead
from tests.dataplane import resources as r


def request(
    path: str = "/",
    host: str = "example.com",
    method: str = "GET",
    headers: dict[str, str] | None = None,
) -> RequestHead:
    raw_path, question, query = path.encode().partition(b"?")
    return RequestHead(
        method.encode(),
        raw_path,
        query if question else None,
        host.encode(),
        b"http",
        [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
    )


def direct(name: str, match: Any) -> Any:
    route = r.Route(name=name, match=match)
    route.direct_response.status = 200
    return route


def table(*vhosts: Any) -> RouteTable:
    return compile_route_configuration(r.route_config("rc", *vhosts))


def selected(routes: RouteTable, req: RequestHead) -> str | None:
    entry = routes.select(req)
    return None if entry is None else entry.name


class TestVirtualHostPrecedence:
    routes = table(
        r.vhost("exact", ["www.foo.com"], direct("exact", r.RouteMatch(prefix="/"))),
        r.vhost("suffix", ["*.foo.com"], direct("suffix", r.RouteMatch(prefix="/"))),
        r.vhost("longer", ["*.bar.foo.com"], direct("longer", r.RouteMatch(prefix="/"))),
        r.vhost("dash", ["*-baz.com"], direct("dash", r.RouteMatch(prefix="/"))),
        r.vhost("prefix", ["foo.*"], direct("prefix", r.RouteMatch(prefix="/"))),
        r.vhost("any", ["*"], direct("any", r.RouteMatch(prefix="/"))),
    )

    @pytest.mark.parametrize(
        ("host", "expected"),
        [
            ("www.foo.com", "exact"),
            ("a.foo.com", "suffix"),
            ("x.bar.foo.com", "longer"),
            ("bar.foo.com", "suffix"),
            ("a-baz.com", "dash"),
            ("-baz.com", "any"),  # the wildcard never matches the empty string
            ("foo.org", "prefix"),
            ("foo.", "any"),
            ("other.net", "any"),
        ],
    )
    def test_domain_search_order(self, host: str, expected: str) -> None:
        assert selected(self.routes, request(host=host)) == expected

    def test_no_catch_all_means_no_route(self) -> None:
        routes = table(r.vhost("only", ["a.com"], direct("a", r.RouteMatch(prefix="/"))))
        assert routes.select(request(host="b.com")) is None

    def test_a_domain_in_two_virtual_hosts_is_rejected(self) -> None:
        with pytest.raises(InvalidConfig, match="appears in two virtual hosts"):
            table(
                r.vhost("one", ["a.com"], direct("a", r.RouteMatch(prefix="/"))),
                r.vhost("two", ["A.com"], direct("b", r.RouteMatch(prefix="/"))),
            )


class TestPathMatch:
    def test_first_match_wins_in_order(self) -> None:
        routes = table(
            r.vhost(
                "v",
                ["*"],
                direct("exact", r.RouteMatch(path="/foo")),
                direct("separated", r.RouteMatch(path_separated_prefix="/foo")),
                direct("regex", r.RouteMatch(safe_regex=regex_pb2.RegexMatcher(regex="/r/[0-9]+"))),
                direct("prefix", r.RouteMatch(prefix="/")),
            )
        )
        assert selected(routes, request("/foo")) == "exact"
        assert selected(routes, request("/foo?x=1")) == "exact"
        assert selected(routes, request("/foo/bar")) == "separated"
        assert selected(routes, request("/foobar")) == "prefix"
        assert selected(routes, request("/r/42")) == "regex"
        assert selected(routes, request("/r/42/x")) == "prefix"  # regex is a full match

    def test_case_insensitive_prefix(self) -> None:
        match = r.RouteMatch(prefix="/API")
        match.case_sensitive.value = False
        routes = table(r.vhost("v", ["*"], direct("api", match)))
        assert selected(routes, request("/api/x")) == "api"
        assert selected(routes, request("/other")) is None


class TestHeaderAndQueryMatch:
    def test_method_exact_present_and_invert(self) -> None:
        post = r.RouteMatch(
            prefix="/", headers=[r.HeaderMatcher(name=":method", exact_match="POST")]
        )
        present = r.RouteMatch(
            prefix="/", headers=[r.HeaderMatcher(name="x-a", present_match=True)]
        )
        inverted = r.RouteMatch(
            prefix="/",
            headers=[
                r.HeaderMatcher(
                    name="x-b",
                    string_match=string_pb2.StringMatcher(exact="no"),
                    invert_match=True,
                )
            ],
        )
        routes = table(
            r.vhost(
                "v",
                ["*"],
                direct("post", post),
                direct("present", present),
                direct("inv", inverted),
            )
        )
        assert selected(routes, request(method="POST")) == "post"
        assert selected(routes, request(headers={"X-A": ""})) == "present"
        assert selected(routes, request(headers={"x-b": "yes"})) == "inv"
        # A missing header never matches an inverted string matcher (Envoy semantics).
        assert selected(routes, request()) is None
        assert selected(routes, request(headers={"x-b": "no"})) is None

    def test_multiple_values_are_joined_with_commas(self) -> None:
        match = r.RouteMatch(
            prefix="/",
            headers=[
                r.HeaderMatcher(name="x-v", string_match=string_pb2.StringMatcher(exact="a,b"))
            ],
        )
        routes = table(r.vhost("v", ["*"], direct("joined", match)))
        head = request()
        head.headers += [(b"x-v", b"a"), (b"x-v", b"b")]
        assert selected(routes, head) == "joined"

    def test_regex_header_and_query_parameters(self) -> None:
        match = r.RouteMatch(
            prefix="/",
            headers=[
                r.HeaderMatcher(
                    name="x-version",
                    safe_regex_match=regex_pb2.RegexMatcher(regex="v[0-9]+"),
                )
            ],
            query_parameters=[
                r.QueryParameterMatcher(
                    name="q", string_match=string_pb2.StringMatcher(exact="a b")
                ),
                r.QueryParameterMatcher(name="flag", present_match=True),
            ],
        )
        routes = table(r.vhost("v", ["*"], direct("both", match)))
        ok = request("/?q=a%20b&flag", headers={"x-version": "v12"})
        assert selected(routes, ok) == "both"
        assert selected(routes, request("/?q=a%20b", headers={"x-version": "v12"})) is None
        assert selected(routes, request("/?q=a%20b&flag=1", headers={"x-version": "v1x"})) is None
        # Only the first value of a repeated parameter counts.
        assert selected(routes, request("/?q=zz&q=a%20b&flag", headers={"x-version": "v1"})) is None

    def test_invalid_regex_is_rejected_with_its_location(self) -> None:
        bad = r.RouteMatch(safe_regex=regex_pb2.RegexMatcher(regex="(unclosed"))
        with pytest.raises(InvalidConfig, match=r"invalid regex .*route 0"):
            table(r.vhost("v", ["*"], direct("bad", bad)))


# A reference model: the obvious, slow reading of Envoy's rules.

PATHS = st.sampled_from(["/", "/a", "/a/", "/a/b", "/ab", "/b", "/a/b/c", "/A/b"])
SPECS = st.tuples(
    st.sampled_from(["prefix", "path", "separated"]), PATHS.filter(lambda p: p != "/a/")
)


def reference(specs: list[tuple[str, str, str | None]], path: str, method: str) -> str | None:
    for index, (kind, value, wanted_method) in enumerate(specs):
        if kind == "prefix":
            ok = path.startswith(value)
        elif kind == "path":
            ok = path == value
        else:
            ok = (
                path == value or path.startswith(value.rstrip("/") + "/") if value != "/" else False
            )
        if ok and (wanted_method is None or wanted_method == method):
            return f"r{index}"
    return None


@settings(max_examples=200, deadline=None)
@given(
    specs=st.lists(
        st.tuples(
            st.sampled_from(["prefix", "path", "separated"]),
            PATHS.filter(lambda p: p not in ("/a/", "/")),
            st.sampled_from([None, "GET", "POST"]),
        ),
        min_size=1,
        max_size=6,
    ),
    path=PATHS,
    method=st.sampled_from(["GET", "POST"]),
)
def test_route_selection_matches_the_reference_model(
    specs: list[tuple[str, str, str | None]], path: str, method: str
) -> None:
    routes = []
    for index, (kind, value, wanted_method) in enumerate(specs):
        field = {"prefix": "prefix", "path": "path", "separated": "path_separated_prefix"}[kind]
        match = r.RouteMatch(**{field: value})
        if wanted_method is not None:
            match.headers.add(name=":method", exact_match=wanted_method)
        routes.append(direct(f"r{index}", match))
    compiled = table(r.vhost("v", ["*"], *routes))
    assert selected(compiled, request(path, method=method)) == reference(specs, path, method)


def test_reference_model_agrees_on_separated_prefix_examples() -> None:
    # Guards the model itself: "/a" as a separated prefix matches "/a" and "/a/b", not "/ab".
    specs: list[tuple[str, str, str | None]] = [("separated", "/a", None)]
    assert [reference(specs, p, "GET") for p in ("/a", "/a/b", "/ab")] == ["r0", "r0", None]
