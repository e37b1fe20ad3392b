"""Listener protos from IR listeners: plain HTTP and HTTPS with SNI-selected filter chains.

Covers the connection manager settings agw relies on (codec, RDS over ADS, host port stripping,
filter order, WebSocket off by default), the TLS inspector, SDS-by-name certificates and ALPN.
Leaves out whether Envoy accepts them (test_xds_envoy.py) and listener protocols without an
Envoy shape yet (only the refusal is checked).
"""

from __future__ import annotations

from typing import Any

import pytest
from envoy.config.core.v3 import config_source_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from envoy.extensions.transport_sockets.tls.v3 import common_pb2, tls_pb2

from tests.translator.xds import xds_samples
from translator.ir import (
    ClientValidation,
    DownstreamTls,
    HttpFilterChain,
    L4Backend,
    Listener,
    ListenerProtocol,
    UdpFilterChain,
)
from translator.xds.errors import UnsupportedListenerProtocol
from translator.xds.listener import build_listener


def _manager(chain: Any) -> Any:
    manager = hcm_pb2.HttpConnectionManager()
    assert chain.filters[0].typed_config.Unpack(manager)
    return manager


def _tls_listener() -> Any:
    gateway = xds_samples.tls_gateway(
        named=xds_samples.self_signed("secret/default/a", "a.example.com"),
        fallback=xds_samples.self_signed("secret/default/any", "any.example"),
    )
    return build_listener(gateway.listeners[0])


def test_http_listener_binds_the_ir_address_with_one_connection_manager() -> None:
    listener = build_listener(
        xds_samples.feature_gateway(address="127.0.9.1", port=8080).listeners[0]
    )

    assert listener.name == xds_samples.HTTP_LISTENER
    assert listener.address.socket_address.address == "127.0.9.1"
    assert listener.address.socket_address.port_value == 8080
    assert len(listener.filter_chains) == 1
    assert not listener.listener_filters
    assert not listener.filter_chains[0].HasField("transport_socket")


def test_connection_manager_takes_routes_over_ads_and_accepts_any_http_version() -> None:
    listener = build_listener(xds_samples.feature_gateway().listeners[0])
    manager = _manager(listener.filter_chains[0])

    assert manager.codec_type == hcm_pb2.HttpConnectionManager.AUTO
    assert manager.rds.route_config_name == xds_samples.HTTP_ROUTES
    assert manager.rds.config_source.HasField("ads")
    assert manager.rds.config_source.resource_api_version == config_source_pb2.V3
    assert manager.strip_any_host_port
    assert manager.use_remote_address.value


def test_fault_filter_runs_before_the_router() -> None:
    manager = _manager(build_listener(xds_samples.feature_gateway().listeners[0]).filter_chains[0])

    assert [f.name for f in manager.http_filters] == [
        "envoy.filters.http.fault",
        "envoy.filters.http.router",
    ]


def test_websocket_upgrades_are_off_unless_a_route_enables_them() -> None:
    manager = _manager(build_listener(xds_samples.feature_gateway().listeners[0]).filter_chains[0])

    [upgrade] = manager.upgrade_configs
    assert upgrade.upgrade_type == "websocket"
    assert upgrade.HasField("enabled") and not upgrade.enabled.value


def test_https_listener_inspects_tls_and_selects_chains_by_sni() -> None:
    listener = _tls_listener()

    assert [f.name for f in listener.listener_filters] == ["envoy.filters.listener.tls_inspector"]
    assert [list(c.filter_chain_match.server_names) for c in listener.filter_chains] == [
        ["a.example.com"],
        [],
    ]
    assert [_manager(c).rds.route_config_name for c in listener.filter_chains] == [
        "default/gw/https/a",
        "default/gw/https/any",
    ]


def test_https_chains_take_certificates_by_sds_name_and_offer_the_ir_alpn() -> None:
    contexts = []
    for chain in _tls_listener().filter_chains:
        assert chain.transport_socket.name == "envoy.transport_sockets.tls"
        context = tls_pb2.DownstreamTlsContext()
        assert chain.transport_socket.typed_config.Unpack(context)
        contexts.append(context.common_tls_context)

    assert [[s.name for s in c.tls_certificate_sds_secret_configs] for c in contexts] == [
        ["secret/default/a"],
        ["secret/default/any"],
    ]
    assert all(c.tls_certificate_sds_secret_configs[0].sds_config.HasField("ads") for c in contexts)
    assert [list(c.alpn_protocols) for c in contexts] == [["h2", "http/1.1"], ["http/1.1"]]


def test_a_udp_chain_on_a_stream_listener_is_refused() -> None:
    chain = UdpFilterChain("u", (L4Backend("c", 1),))
    listener = Listener("l", "127.0.0.1", 9000, ListenerProtocol.TCP, (chain,))

    with pytest.raises(UnsupportedListenerProtocol, match="needs a UDP listener"):
        build_listener(listener)


@pytest.mark.parametrize("required", [True, False])
def test_client_validation_reaches_the_tls_context(required: bool) -> None:
    tls = DownstreamTls(("secret/default/a",), client_validation=ClientValidation("ca/x", required))
    chain = HttpFilterChain("c", ("a.example.com",), "rc", tls)
    built = build_listener(Listener("l", "127.0.0.1", 443, ListenerProtocol.HTTPS, (chain,)))
    context = tls_pb2.DownstreamTlsContext()
    assert built.filter_chains[0].transport_socket.typed_config.Unpack(context)
    combined = context.common_tls_context.combined_validation_context
    assert combined.validation_context_sds_secret_config.name == "ca/x"
    assert context.require_client_certificate.value is required
    untrusted = combined.default_validation_context.trust_chain_verification
    assert (untrusted == common_pb2.CertificateValidationContext.ACCEPT_UNTRUSTED) is not required
