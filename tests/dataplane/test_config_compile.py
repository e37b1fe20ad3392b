"""Compiling xDS resources into the runtime config, and rejecting what is not implemented.

Covers the clear errors an xDS client turns into NACKs (unsupported field, unsupported enum
value or retry condition, malformed values), warming bookkeeping (listeners waiting for RDS,
clusters waiting for EDS), action compilation details (redirect codes, weights, timeouts) and
that docs/supported-envoy-api.md is generated from the support table. Request handling is left
to the integration tests.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.route.v3 import route_components_pb2

from dataplane.config import XdsResources, compile_config
from dataplane.config.route_table import ForwardAction, RedirectAction
from dataplane.errors import ConfigRejected, InvalidConfig, UnsupportedField, UnsupportedValue
from tests.dataplane import resources as r

ROOT = Path(__file__).resolve().parents[2]


def single_route(route: r.Route) -> XdsResources:
    return XdsResources(
        listeners={"l": r.listener("l", "127.0.20.1", 8080, "rc")},
        route_configs={"rc": r.route_config("rc", r.vhost("v", ["*"], route))},
        clusters={"c": r.cluster("c")},
        load_assignments={"c": r.load_assignment("c", ("127.0.20.2", 9000))},
    )


def first_route(resources: XdsResources):  # type: ignore[no-untyped-def]
    config = compile_config(resources)
    table = config.route_tables["rc"]
    assert table.default is not None
    return table.default.routes[0]


def test_an_unsupported_field_is_named_in_the_error() -> None:
    route = r.to_cluster("c")
    route.route.hash_policy.add().header.header_name = "x-user"
    with pytest.raises(UnsupportedField) as caught:
        compile_config(single_route(route))
    message = str(caught.value)
    assert message.startswith("Route.route.hash_policy is not supported by the agw proxy")
    assert "RouteConfiguration 'rc'" in message and "virtual host 'v'" in message


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda c: setattr(c, "lb_policy", cluster_pb2.Cluster.RING_HASH), "lb_policy='RING_HASH'"),
        (lambda c: c.health_checks.add(), "Cluster.health_checks is not supported"),
        (
            lambda c: c.transport_socket.SetInParent(),
            "Cluster.transport_socket.name='' is not supported",
        ),
    ],
)
def test_cluster_fields_and_values_outside_the_subset(mutate, expected: str) -> None:  # type: ignore[no-untyped-def]
    resources = single_route(r.to_cluster("c"))
    cluster = r.cluster("c")
    mutate(cluster)
    resources = XdsResources(
        listeners=resources.listeners,
        route_configs=resources.route_configs,
        clusters={"c": cluster},
        load_assignments=resources.load_assignments,
    )
    with pytest.raises(ConfigRejected, match=expected):
        compile_config(resources)


def test_an_unknown_retry_condition_is_rejected() -> None:
    route = r.to_cluster("c")
    route.route.retry_policy.retry_on = "5xx,retriable-4xx"
    with pytest.raises(UnsupportedValue, match=r"RetryPolicy\.retry_on='retriable-4xx'"):
        compile_config(single_route(route))


def test_unsupported_fields_inside_the_connection_manager_are_found() -> None:
    listener = r.listener("l", "127.0.20.1", 8080, "rc", add_user_agent={"value": True})
    resources = single_route(r.to_cluster("c"))
    resources = XdsResources(
        listeners={"l": listener},
        route_configs=resources.route_configs,
        clusters=resources.clusters,
        load_assignments=resources.load_assignments,
    )
    with pytest.raises(
        UnsupportedField, match=r"HttpConnectionManager.add_user_agent .*Listener 'l'"
    ):
        compile_config(resources)


def test_host_may_not_be_modified_by_header_mutations() -> None:
    route = r.to_cluster("c")
    route.request_headers_to_add.append(r.header("Host", "x"))
    with pytest.raises(InvalidConfig, match="'Host' may not be modified"):
        compile_config(single_route(route))


def test_formatter_commands_in_header_values_are_not_supported() -> None:
    route = r.to_cluster("c")
    route.request_headers_to_add.append(r.header("x-client", "%DOWNSTREAM_REMOTE_ADDRESS%"))
    with pytest.raises(UnsupportedValue, match="formatter"):
        compile_config(single_route(route))
    escaped = r.to_cluster("c")
    escaped.request_headers_to_add.append(r.header("x-pct", "100%%"))
    entry = first_route(single_route(escaped))
    assert entry.request_ops[0][2] == b"100%"


def test_weighted_clusters_timeout_and_retry_compile() -> None:
    route = r.Route(name="w", match=r.RouteMatch(prefix="/"))
    for name, weight in (("a", 80), ("b", 20), ("zero", 0)):
        cw = route.route.weighted_clusters.clusters.add(name=name)
        cw.weight.value = weight
    route.route.timeout.FromMilliseconds(0)
    route.route.retry_policy.retry_on = "connect-failure,retriable-status-codes"
    route.route.retry_policy.retriable_status_codes.append(503)
    route.route.retry_policy.num_retries.value = 3
    action = first_route(single_route(route)).action
    assert isinstance(action, ForwardAction)
    assert [t.cluster for t in action.targets] == ["a", "b"]
    assert action.cumulative == (80, 100)
    assert action.timeout == 0.0
    assert action.retry is not None and action.retry.num_retries == 3
    assert action.retry.retries_status(503) and not action.retry.retries_status(502)
    assert action.retry.retries_connect_failure() and not action.retry.retries_reset()


def test_default_route_timeout_is_fifteen_seconds() -> None:
    action = first_route(single_route(r.to_cluster("c"))).action
    assert isinstance(action, ForwardAction) and action.timeout == 15.0


def test_redirect_compiles_codes_and_port() -> None:
    route = r.Route(name="redirect", match=r.RouteMatch(prefix="/"))
    route.redirect.scheme_redirect = "https"
    route.redirect.port_redirect = 8443
    route.redirect.response_code = route_components_pb2.RedirectAction.PERMANENT_REDIRECT
    action = first_route(single_route(route)).action
    assert isinstance(action, RedirectAction)
    assert (action.status, action.scheme, action.port) == (308, b"https", b":8443")


def test_listeners_and_clusters_warm_until_their_resources_arrive() -> None:
    resources = single_route(r.to_cluster("c"))
    waiting = XdsResources(listeners=resources.listeners, clusters=resources.clusters)
    config = compile_config(waiting)
    assert config.warming_listeners == ("l",) and not config.listeners
    assert config.warming_clusters == ("c",)
    assert not config.is_complete
    assert compile_config(resources).is_complete


def test_two_listeners_on_one_address_are_rejected() -> None:
    resources = single_route(r.to_cluster("c"))
    both = XdsResources(
        listeners={
            "a": r.listener("a", "127.0.20.1", 8080, "rc"),
            "b": r.listener("b", "127.0.20.1", 8080, "rc"),
        },
        route_configs=resources.route_configs,
    )
    with pytest.raises(InvalidConfig, match="already used"):
        compile_config(both)


def test_supported_api_doc_is_generated_from_the_table() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "gen_supported_api.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    text = (ROOT / "docs" / "supported-envoy-api.md").read_text()
    assert "## `envoy.config.route.v3.RouteAction`" in text
    assert "| `retry_policy` |" in text
