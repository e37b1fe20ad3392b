"""build_resources end to end on hand-built IR, plus the cluster, endpoint and secret builders.

Covers naming and sorting of the resource maps, type URLs and push order, EDS clusters over ADS,
HTTP/2 to h2c backends, load assignments, inline secrets, when the invalid-backend cluster is
included, and duplicate names. Leaves route and listener details to their own modules.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from envoy.config.cluster.v3 import cluster_pb2
from envoy.extensions.upstreams.http.v3 import http_protocol_options_pb2

from tests.translator.xds import xds_samples
from translator.ir import (
    Cluster,
    Endpoint,
    ForwardAction,
    GatewayIR,
    RedirectAction,
    RouteConfig,
    UpstreamProtocol,
    VirtualHost,
    WeightedBackend,
)
from translator.xds import build_resources, type_urls
from translator.xds.cluster import INVALID_BACKEND_CLUSTER, build_cluster, build_load_assignment
from translator.xds.errors import DuplicateResourceName
from translator.xds.secret import build_secret


def _gateway(**fields: Any) -> GatewayIR:
    return replace(GatewayIR("ns", "gw", (), (), (), ()), **fields)


def test_resources_are_keyed_by_name_and_sorted() -> None:
    clusters = (Cluster("z", ()), Cluster("a", ()), Cluster("m", ()))
    resources = build_resources(_gateway(clusters=clusters))

    assert list(resources.clusters) == ["a", "m", "z"]
    assert list(resources.endpoints) == ["a", "m", "z"]
    assert all(resources.clusters[name].name == name for name in resources.clusters)
    assert all(resources.endpoints[name].cluster_name == name for name in resources.endpoints)


def test_by_type_url_covers_the_five_types() -> None:
    resources = build_resources(xds_samples.feature_gateway())
    by_url = resources.by_type_url()

    assert set(by_url) == set(type_urls.PUSH_ORDER)
    assert by_url[type_urls.LISTENER] is resources.listeners
    assert by_url[type_urls.CLUSTER_LOAD_ASSIGNMENT] is resources.endpoints
    for url, named in by_url.items():
        for message in named.values():
            assert url == "type.googleapis.com/" + message.DESCRIPTOR.full_name


def test_push_order_puts_every_resource_after_what_it_uses() -> None:
    order = type_urls.PUSH_ORDER.index

    assert order(type_urls.SECRET) < order(type_urls.LISTENER)
    assert (
        order(type_urls.CLUSTER)
        < order(type_urls.CLUSTER_LOAD_ASSIGNMENT)
        < order(type_urls.LISTENER)
    )
    assert order(type_urls.LISTENER) < order(type_urls.ROUTE_CONFIGURATION)


def test_duplicate_names_are_refused() -> None:
    with pytest.raises(DuplicateResourceName, match="'a'"):
        build_resources(_gateway(clusters=(Cluster("a", ()), Cluster("a", ()))))


def test_eds_cluster_over_ads() -> None:
    cluster = build_cluster(
        Cluster("service/ns/web/80", (), connect_timeout_seconds=2.5, origin="Service/ns/web:80")
    )

    assert cluster.type == cluster_pb2.Cluster.EDS
    assert cluster.eds_cluster_config.eds_config.HasField("ads")
    assert cluster.connect_timeout.ToMilliseconds() == 2500
    assert cluster.lb_policy == cluster_pb2.Cluster.ROUND_ROBIN
    assert not cluster.typed_extension_protocol_options
    assert cluster.metadata.filter_metadata["agw"]["origin"] == "Service/ns/web:80"


def test_h2c_cluster_speaks_http2_to_the_backend() -> None:
    cluster = build_cluster(Cluster("grpc", (), protocol=UpstreamProtocol.H2C))
    options = http_protocol_options_pb2.HttpProtocolOptions()

    assert cluster.typed_extension_protocol_options[
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
    ].Unpack(options)
    assert options.explicit_http_config.HasField("http2_protocol_options")


def test_load_assignment_lists_endpoints_in_order() -> None:
    endpoints = (Endpoint("10.0.0.2", 8080, hostname="pod-b"), Endpoint("10.0.0.1", 8080))
    assignment = build_load_assignment(Cluster("c", endpoints))
    [locality] = assignment.endpoints

    assert [
        (
            e.endpoint.address.socket_address.address,
            e.endpoint.address.socket_address.port_value,
            e.endpoint.hostname,
        )
        for e in locality.lb_endpoints
    ] == [("10.0.0.2", 8080, "pod-b"), ("10.0.0.1", 8080, "")]


def test_load_assignment_without_endpoints_is_empty() -> None:
    assert not build_load_assignment(Cluster("c", ())).endpoints


def test_secret_is_inline() -> None:
    certificate = xds_samples.self_signed("secret/ns/cert", "a.example.com")
    secret = build_secret(certificate)

    assert secret.name == "secret/ns/cert"
    assert secret.tls_certificate.certificate_chain.inline_string == certificate.certificate_chain
    assert secret.tls_certificate.private_key.inline_string == certificate.private_key


def _with_backends(*backends: WeightedBackend) -> GatewayIR:
    route = xds_samples.route("r", xds_samples.prefix("/"), ForwardAction(backends=backends))
    return _gateway(
        route_configs=(RouteConfig("rc", (VirtualHost("rc/*", ("*",), (route,)),)),),
        clusters=(Cluster("a", ()),),
    )


def test_invalid_backend_cluster_exists_only_when_a_route_splits_to_it() -> None:
    partly = build_resources(_with_backends(WeightedBackend("a", 1), WeightedBackend(None, 1)))
    wholly = build_resources(_with_backends(WeightedBackend(None, 1)))
    valid = build_resources(_with_backends(WeightedBackend("a", 1)))

    assert INVALID_BACKEND_CLUSTER in partly.clusters
    assert partly.clusters[INVALID_BACKEND_CLUSTER].type == cluster_pb2.Cluster.STATIC
    assert INVALID_BACKEND_CLUSTER not in partly.endpoints
    assert INVALID_BACKEND_CLUSTER not in wholly.clusters
    assert INVALID_BACKEND_CLUSTER not in valid.clusters


def test_route_configuration_learns_its_listeners_port_and_scheme() -> None:
    certificate = xds_samples.self_signed("s", "a.example.com")
    gateway = xds_samples.tls_gateway(port=9443, named=certificate, fallback=certificate)
    redirect = xds_samples.route("r", xds_samples.prefix("/"), RedirectAction(hostname="b.example"))
    config = gateway.route_configs[0]
    gateway = _gateway(
        listeners=gateway.listeners,
        route_configs=(RouteConfig(config.name, (VirtualHost("v", ("*",), (redirect,)),)),),
    )

    built = build_resources(gateway).route_configs[config.name]

    assert built.virtual_hosts[0].routes[0].redirect.port_redirect == 9443
