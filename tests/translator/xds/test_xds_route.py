"""Route protos: matches, backends, header mutations, timeouts, retries, mirrors, upgrades.

Each case builds a small IR route by hand and checks the Envoy fields it must produce; the
Gateway API behaviour those fields give on a real Envoy is in test_xds_envoy.py. Redirects and
path rewrites are in test_xds_redirect.py.
"""

from __future__ import annotations

from typing import Any

import pytest
from envoy.config.core.v3 import base_pb2
from envoy.extensions.filters.http.fault.v3 import fault_pb2
from envoy.type.v3 import percent_pb2

from tests.translator.xds.xds_samples import CLUSTER_A, CLUSTER_B, prefix, route, to_a
from translator.ir import (
    DirectResponseAction,
    ForwardAction,
    HeaderMatch,
    HeaderMutation,
    HeaderValue,
    Mirror,
    PathMatch,
    PathMatchKind,
    QueryParamMatch,
    RetryPolicy,
    Route,
    RouteConfig,
    RouteMatch,
    StringMatchKind,
    VirtualHost,
    WeightedBackend,
)
from translator.xds.cluster import INVALID_BACKEND_CLUSTER
from translator.xds.route import build_match, build_route, build_route_configuration


def _build(ir_route: Route) -> Any:
    return build_route(ir_route, listener_port=8080, listener_scheme="http")


def _forward(**options: Any) -> Any:
    return _build(route("r", prefix("/"), to_a(**options))).route


def test_route_configuration_keeps_virtual_host_and_route_order() -> None:
    config = RouteConfig(
        "rc",
        (
            VirtualHost(
                "rc/a", ("a.example.com", "*.a.example.com"), (route("1", prefix("/x"), to_a()),)
            ),
            VirtualHost(
                "rc/*", ("*",), (route("2", prefix("/y"), to_a()), route("3", prefix("/"), to_a()))
            ),
        ),
    )

    built = build_route_configuration(config, listener_port=80, listener_scheme="http")

    assert built.name == "rc"
    assert [(h.name, list(h.domains)) for h in built.virtual_hosts] == [
        ("rc/a", ["a.example.com", "*.a.example.com"]),
        ("rc/*", ["*"]),
    ]
    assert [r.name for r in built.virtual_hosts[1].routes] == ["r/2", "r/3"]


@pytest.mark.parametrize(
    ("path", "field", "value"),
    [
        (PathMatch(PathMatchKind.PREFIX, "/"), "prefix", "/"),
        (PathMatch(PathMatchKind.PREFIX, "/foo"), "path_separated_prefix", "/foo"),
        (PathMatch(PathMatchKind.PREFIX, "/foo/"), "path_separated_prefix", "/foo"),
        (PathMatch(PathMatchKind.EXACT, "/foo/"), "path", "/foo/"),
    ],
)
def test_path_matches(path: PathMatch, field: str, value: str) -> None:
    match = build_match(RouteMatch(path=path))

    assert match.WhichOneof("path_specifier") == field
    assert getattr(match, field) == value


def test_regex_path_uses_envoys_default_regex_engine() -> None:
    match = build_match(RouteMatch(path=PathMatch(PathMatchKind.REGEX, "/v[0-9]+/.*")))

    assert match.safe_regex.regex == "/v[0-9]+/.*"
    assert not match.safe_regex.HasField("google_re2")  # deprecated in Envoy's API


def test_method_header_and_query_matches() -> None:
    match = build_match(
        RouteMatch(
            headers=(
                HeaderMatch(":method", StringMatchKind.EXACT, "GET"),
                HeaderMatch("x-v", StringMatchKind.REGEX, "v[12]"),
            ),
            query_params=(
                QueryParamMatch("a", StringMatchKind.EXACT, "1"),
                QueryParamMatch("b", StringMatchKind.REGEX, "[xy]"),
            ),
        )
    )

    assert [
        (h.name, h.string_match.exact, h.string_match.safe_regex.regex) for h in match.headers
    ] == [
        (":method", "GET", ""),
        ("x-v", "", "v[12]"),
    ]
    assert [
        (q.name, q.string_match.exact, q.string_match.safe_regex.regex)
        for q in match.query_parameters
    ] == [
        ("a", "1", ""),
        ("b", "", "[xy]"),
    ]


def test_single_backend_is_a_plain_cluster() -> None:
    action = _forward()

    assert action.WhichOneof("cluster_specifier") == "cluster"
    assert action.cluster == CLUSTER_A


def test_several_backends_are_weighted_clusters() -> None:
    backends = (
        WeightedBackend(CLUSTER_A, 3),
        WeightedBackend(CLUSTER_B, 1),
        WeightedBackend("c", 0),
    )
    built = _build(route("r", prefix("/"), ForwardAction(backends=backends))).route

    assert [(c.name, c.weight.value) for c in built.weighted_clusters.clusters] == [
        (CLUSTER_A, 3),
        (CLUSTER_B, 1),
    ]


def test_invalid_share_goes_to_the_aborting_invalid_backend_cluster() -> None:
    backends = (
        WeightedBackend(CLUSTER_A, 2),
        WeightedBackend(None, 1),
        WeightedBackend(None, 3),
    )
    built = _build(route("r", prefix("/"), ForwardAction(backends=backends))).route
    valid, invalid = built.weighted_clusters.clusters

    assert (valid.name, valid.weight.value, dict(valid.typed_per_filter_config)) == (
        CLUSTER_A,
        2,
        {},
    )
    assert (invalid.name, invalid.weight.value) == (INVALID_BACKEND_CLUSTER, 4)
    fault = fault_pb2.HTTPFault()
    assert invalid.typed_per_filter_config["envoy.filters.http.fault"].Unpack(fault)
    assert fault.abort.http_status == 500
    assert (fault.abort.percentage.numerator, fault.abort.percentage.denominator) == (
        100,
        percent_pb2.FractionalPercent.HUNDRED,
    )


@pytest.mark.parametrize(
    "backends",
    [(), (WeightedBackend(None, 1),), (WeightedBackend(None, 1), WeightedBackend(CLUSTER_A, 0))],
    ids=["no-backends", "all-invalid", "valid-one-weighs-nothing"],
)
def test_route_without_a_reachable_backend_answers_500(
    backends: tuple[WeightedBackend, ...],
) -> None:
    built = _build(route("r", prefix("/"), ForwardAction(backends=backends)))

    assert built.WhichOneof("action") == "direct_response"
    assert built.direct_response.status == 500


def test_direct_response_with_body() -> None:
    built = _build(route("r", prefix("/"), DirectResponseAction(418, "teapot")))

    assert (built.direct_response.status, built.direct_response.body.inline_string) == (
        418,
        "teapot",
    )


def test_route_header_mutations_set_overwrite_add_append_remove_delete() -> None:
    built = _build(
        route(
            "r",
            prefix("/"),
            to_a(),
            request_headers=HeaderMutation(
                set=(HeaderValue("x-set", "1"),),
                add=(HeaderValue("x-add", "2"),),
                remove=("x-gone",),
            ),
            response_headers=HeaderMutation(set=(HeaderValue("x-resp", "3"),), remove=("server",)),
        )
    )
    options = base_pb2.HeaderValueOption

    assert [
        (h.header.key, h.header.value, h.append_action) for h in built.request_headers_to_add
    ] == [
        ("x-set", "1", options.OVERWRITE_IF_EXISTS_OR_ADD),
        ("x-add", "2", options.APPEND_IF_EXISTS_OR_ADD),
    ]
    assert list(built.request_headers_to_remove) == ["x-gone"]
    assert [(h.header.key, h.append_action) for h in built.response_headers_to_add] == [
        ("x-resp", options.OVERWRITE_IF_EXISTS_OR_ADD)
    ]
    assert list(built.response_headers_to_remove) == ["server"]


def test_backend_header_mutations_need_a_weighted_entry_even_for_one_backend() -> None:
    backend = WeightedBackend(
        CLUSTER_A,
        1,
        request_headers=HeaderMutation(add=(HeaderValue("x-b", "1"),)),
        response_headers=HeaderMutation(remove=("x-internal",)),
    )
    built = _build(route("r", prefix("/"), ForwardAction(backends=(backend,)))).route
    [entry] = built.weighted_clusters.clusters

    assert entry.name == CLUSTER_A
    assert [h.header.key for h in entry.request_headers_to_add] == ["x-b"]
    assert list(entry.response_headers_to_remove) == ["x-internal"]


def test_origin_is_kept_as_route_metadata() -> None:
    built = _build(route("r", prefix("/"), to_a(), origin="HTTPRoute/default/web"))

    assert built.metadata.filter_metadata["agw"]["origin"] == "HTTPRoute/default/web"


@pytest.mark.parametrize(
    ("request_timeout", "backend_timeout", "expected"),
    [
        (None, None, None),
        (0.0, None, 0.0),
        (2.5, None, 2.5),
        (None, 1.0, 1.0),
        (5.0, 1.0, 1.0),
        (0.0, 1.0, 1.0),
        (3.0, 0.0, 3.0),
    ],
)
def test_without_retries_the_one_attempt_gets_the_tighter_timeout(
    request_timeout: float | None, backend_timeout: float | None, expected: float | None
) -> None:
    action = _forward(request_timeout=request_timeout, backend_request_timeout=backend_timeout)

    if expected is None:
        assert not action.HasField("timeout")
    else:
        assert action.timeout.ToNanoseconds() == round(expected * 1e9)
    assert not action.HasField("retry_policy")


def test_retry_policy_with_per_try_timeout() -> None:
    retry = RetryPolicy(attempts=3, status_codes=(502, 503), backoff_seconds=0.25)
    action = _forward(retry=retry, request_timeout=10.0, backend_request_timeout=2.0)
    policy = action.retry_policy

    assert action.timeout.seconds == 10
    assert policy.retry_on == "retriable-status-codes,connect-failure,reset"
    assert policy.num_retries.value == 3
    assert list(policy.retriable_status_codes) == [502, 503]
    assert policy.retry_back_off.base_interval.ToMilliseconds() == 250
    assert policy.per_try_timeout.seconds == 2


def test_retry_policy_without_codes_or_connect_failures() -> None:
    action = _forward(retry=RetryPolicy(attempts=0, retry_on_connect_failure=False))
    policy = action.retry_policy

    assert policy.retry_on == ""
    assert policy.HasField("num_retries") and policy.num_retries.value == 0
    assert not policy.HasField("retry_back_off")
    assert not policy.HasField("per_try_timeout")
    assert not action.HasField("timeout")


@pytest.mark.parametrize(
    ("numerator", "denominator", "expected"),
    [
        (100, 100, (100, percent_pb2.FractionalPercent.HUNDRED)),
        (25, 10_000, (25, percent_pb2.FractionalPercent.TEN_THOUSAND)),
        (7, 1_000_000, (7, percent_pb2.FractionalPercent.MILLION)),
        (1, 3, (333_333, percent_pb2.FractionalPercent.MILLION)),
        (5, 1000, (5000, percent_pb2.FractionalPercent.MILLION)),
    ],
)
def test_mirror_fraction(numerator: int, denominator: int, expected: tuple[int, int]) -> None:
    action = _forward(mirrors=(Mirror(CLUSTER_B, numerator, denominator),))
    [policy] = action.request_mirror_policies
    fraction = policy.runtime_fraction.default_value

    assert policy.cluster == CLUSTER_B
    assert (fraction.numerator, fraction.denominator) == expected


def test_websocket_is_enabled_per_route() -> None:
    [upgrade] = _forward(allow_websocket=True).upgrade_configs

    assert (upgrade.upgrade_type, upgrade.enabled.value) == ("websocket", True)
    assert not _forward().upgrade_configs


def test_host_rewrite_is_literal() -> None:
    assert _forward(host_rewrite="internal.example").host_rewrite_literal == "internal.example"
