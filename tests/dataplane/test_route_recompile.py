"""Incremental route compilation: a RouteConfiguration compiled again reuses the compiled
entries of virtual hosts and routes whose proto (and surrounding header operations) did not
change, and compiles (and checks) the changed ones afresh. Leaves routing behaviour to the
route-table tests."""

from __future__ import annotations

import pytest

from dataplane.config.route import compile_route_configuration
from dataplane.errors import ConfigRejected
from tests.dataplane.resources import route_config, to_cluster, vhost


def test_unchanged_routes_are_reused_and_changed_ones_recompiled() -> None:
    first = compile_route_configuration(
        route_config("rc", vhost("v", ["*"], to_cluster("a", "/a"), to_cluster("b", "/b")))
    )
    second = compile_route_configuration(
        route_config("rc", vhost("v", ["*"], to_cluster("a", "/a"), to_cluster("c", "/b")))
    )
    old = first.virtual_host(b"x")
    new = second.virtual_host(b"x")
    assert old is not None and new is not None
    assert new.routes[0] is old.routes[0]
    assert new.routes[1] is not old.routes[1]
    assert new.routes[1].action != old.routes[1].action


def test_other_configurations_do_not_share_entries() -> None:
    one = compile_route_configuration(route_config("one", vhost("v", ["*"], to_cluster("a"))))
    two = compile_route_configuration(route_config("two", vhost("v", ["*"], to_cluster("a"))))
    first, second = one.virtual_host(b"x"), two.virtual_host(b"x")
    assert first is not None and second is not None
    assert first.routes[0] is not second.routes[0]


def test_unchanged_virtual_hosts_are_reused_whole() -> None:
    first = compile_route_configuration(
        route_config(
            "rc",
            vhost("a", ["a.example"], to_cluster("a")),
            vhost("b", ["b.example"], to_cluster("b")),
        )
    )
    second = compile_route_configuration(
        route_config(
            "rc",
            vhost("a", ["a.example"], to_cluster("a")),
            vhost("b", ["b.example"], to_cluster("c")),
        )
    )
    assert second.virtual_host(b"a.example") is first.virtual_host(b"a.example")
    assert second.virtual_host(b"b.example") is not first.virtual_host(b"b.example")


def test_an_unsupported_field_in_a_changed_route_is_still_rejected() -> None:
    compile_route_configuration(route_config("checked", vhost("v", ["*"], to_cluster("a"))))
    changed = route_config("checked", vhost("v", ["*"], to_cluster("a")))
    changed.virtual_hosts[0].routes[0].route.max_grpc_timeout.seconds = 3
    with pytest.raises(ConfigRejected, match="max_grpc_timeout"):
        compile_route_configuration(changed)
