"""find_inconsistencies: every name a resource uses must exist in the same snapshot.

Covers RDS names on listeners, SDS names on TLS chains, clusters used by routes (plain,
weighted, mirrored) and EDS load assignments, by removing one resource at a time from a whole
snapshot. Leaves out what the pipeline does with the messages.
"""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType

import pytest

from tests.translator.xds import xds_samples
from translator.ir import (
    CaBundle,
    Cluster,
    Endpoint,
    GatewayIR,
    L4Backend,
    Listener,
    ListenerProtocol,
    TcpFilterChain,
    UdpFilterChain,
    UpstreamTls,
)
from translator.xds import XdsResources, build_resources
from translator.xds.cluster import INVALID_BACKEND_CLUSTER
from translator.xds.consistency import find_inconsistencies


def _whole() -> XdsResources:
    http = build_resources(xds_samples.feature_gateway())
    tls = build_resources(
        xds_samples.tls_gateway(
            named=xds_samples.self_signed("secret/default/a", "a.example.com"),
            fallback=xds_samples.self_signed("secret/default/any", "any.example"),
            endpoint=Endpoint("127.0.0.2", 8000),
        )
    )
    return XdsResources(
        listeners={**http.listeners, **tls.listeners},
        route_configs={**http.route_configs, **tls.route_configs},
        clusters={**http.clusters, **tls.clusters},
        endpoints={**http.endpoints, **tls.endpoints},
        secrets={**http.secrets, **tls.secrets},
    )


def _without(resources: XdsResources, kind: str, name: str) -> XdsResources:
    remaining = dict(getattr(resources, kind))
    del remaining[name]
    return replace(resources, **{kind: MappingProxyType(remaining)})


def test_whole_snapshots_are_consistent() -> None:
    assert find_inconsistencies(_whole()) == []
    assert find_inconsistencies(build_resources(xds_samples.feature_gateway())) == []


@pytest.mark.parametrize(
    ("kind", "name", "message"),
    [
        (
            "route_configs",
            xds_samples.HTTP_ROUTES,
            "listener 'default/gw/http' filter chain 'default/gw/http' uses route configuration "
            "'default/gw/http', which does not exist",
        ),
        (
            "secrets",
            "secret/default/any",
            "listener 'default/gw/https' filter chain 'default/gw/https/any' uses secret "
            "'secret/default/any', which does not exist",
        ),
        (
            "endpoints",
            xds_samples.CLUSTER_H2C,
            "cluster 'service/default/grpc/9000' takes endpoints from load assignment "
            "'service/default/grpc/9000', which does not exist",
        ),
        (
            "clusters",
            INVALID_BACKEND_CLUSTER,
            "route configuration 'default/gw/http' route 'r/half-invalid' uses cluster "
            "'agw/invalid-backend', which does not exist",
        ),
        (
            "clusters",
            xds_samples.CLUSTER_H2C,
            "route configuration 'default/gw/http' route 'r/grpc' uses cluster "
            "'service/default/grpc/9000', which does not exist",
        ),
    ],
)
def test_a_missing_resource_is_named(kind: str, name: str, message: str) -> None:
    assert find_inconsistencies(_without(_whole(), kind, name)) == [message]


def test_weighted_and_mirrored_clusters_are_checked() -> None:
    problems = find_inconsistencies(_without(_whole(), "clusters", xds_samples.CLUSTER_B))

    assert {problem.split(" uses ")[0] for problem in problems} == {
        "route configuration 'default/gw/http' route 'r/split'",
        "route configuration 'default/gw/http' route 'r/mirror'",
    }


def _l4_and_tls_upstream() -> XdsResources:
    cluster = Cluster(
        "c",
        (Endpoint("127.0.0.3", 9000),),
        tls=UpstreamTls("backend.example.com", ca_secret="ca/x"),
    )
    listeners = (
        Listener(
            "tcp",
            "127.0.0.1",
            9000,
            ListenerProtocol.TCP,
            (TcpFilterChain("t", (), (L4Backend("c", 1),)),),
        ),
        Listener(
            "udp",
            "127.0.0.1",
            9001,
            ListenerProtocol.UDP,
            (UdpFilterChain("u", (L4Backend("c", 1),)),),
        ),
    )
    gateway = GatewayIR("default", "gw", listeners, (), (cluster,), (CaBundle("ca/x", "PEM"),))
    return build_resources(gateway)


def test_stream_datagram_and_upstream_tls_references_are_checked() -> None:
    whole = _l4_and_tls_upstream()
    assert find_inconsistencies(whole) == []
    without_cluster = find_inconsistencies(
        _without(_without(whole, "clusters", "c"), "endpoints", "c")
    )
    assert (
        "listener 'tcp' filter chain 't' proxies to cluster 'c', which does not exist"
        in without_cluster
    )
    assert "listener 'udp' sends datagrams to cluster 'c', which does not exist" in without_cluster
    assert find_inconsistencies(_without(whole, "secrets", "ca/x")) == [
        "cluster 'c' uses secret 'ca/x', which does not exist"
    ]
