"""Compiling tcp_proxy chains and udp_proxy listeners, and the builders the other test_l4 modules
share.

Covers: what the translator emits for TLSRoute, TCPRoute and UDPRoute compiles (the L4 golden
inputs, translated); cluster and weighted_clusters; a TCP and a UDP listener on one port;
unsupported TcpProxy, UdpProxyConfig and matcher fields NACKed with the field named; a UDP
listener with filter chains or without its udp_proxy rejected. Traffic is in test_l4_tcp.py,
test_l4_tls.py and test_l4_udp.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from envoy.config.core.v3 import address_pb2, config_source_pb2
from envoy.config.listener.v3 import listener_components_pb2, listener_pb2
from envoy.extensions.filters.listener.tls_inspector.v3 import tls_inspector_pb2
from envoy.extensions.filters.network.tcp_proxy.v3 import tcp_proxy_pb2
from envoy.extensions.filters.udp.udp_proxy.v3 import route_pb2 as udp_route_pb2
from envoy.extensions.filters.udp.udp_proxy.v3 import udp_proxy_pb2
from envoy.extensions.transport_sockets.tls.v3 import tls_pb2
from xds.type.matcher.v3 import matcher_pb2

from dataplane.config import XdsResources, compile_config
from dataplane.config.runtime import RuntimeConfig
from dataplane.errors import ConfigRejected, InvalidConfig, UnsupportedField, UnsupportedValue
from tests.dataplane import resources as r

TESTDATA = Path(__file__).resolve().parent.parent / "translator" / "testdata" / "xds"
Endpoints = dict[str, list[tuple[str, int] | tuple[str, int, int]]]


def _address(host: str, port: int, udp: bool = False) -> address_pb2.Address:
    protocol = address_pb2.SocketAddress.UDP if udp else address_pb2.SocketAddress.TCP
    return address_pb2.Address(
        socket_address=address_pb2.SocketAddress(address=host, port_value=port, protocol=protocol)
    )


def tcp_proxy(clusters: list[tuple[str, int]] | str, **fields: Any) -> tcp_proxy_pb2.TcpProxy:
    proxy = tcp_proxy_pb2.TcpProxy(stat_prefix="tcp", **fields)
    if isinstance(clusters, str):
        proxy.cluster = clusters
    else:
        for name, weight in clusters:
            proxy.weighted_clusters.clusters.add(name=name, weight=weight)
    return proxy


def tcp_chain(
    name: str,
    proxy: tcp_proxy_pb2.TcpProxy,
    server_names: list[str] | None = None,
    secret: str | None = None,
) -> listener_components_pb2.FilterChain:
    """A tcp_proxy chain; with ``secret`` it terminates TLS with that SDS certificate."""
    chain = listener_components_pb2.FilterChain(name=name)
    chain.filter_chain_match.server_names.extend(server_names or [])
    chain.filters.add(name="envoy.filters.network.tcp_proxy").typed_config.Pack(proxy)
    if secret is not None:
        chain.transport_socket.name = "envoy.transport_sockets.tls"
        chain.transport_socket.typed_config.Pack(tls_context(secret))
    return chain


def tls_context(secret: str, alpn: list[str] | None = None) -> tls_pb2.DownstreamTlsContext:
    context = tls_pb2.DownstreamTlsContext()
    context.common_tls_context.alpn_protocols.extend(alpn or [])
    context.common_tls_context.tls_certificate_sds_secret_configs.add(
        name=secret,
        sds_config=config_source_pb2.ConfigSource(
            ads=config_source_pb2.AggregatedConfigSource(),
            resource_api_version=config_source_pb2.V3,
        ),
    )
    return context


def https_chain(name: str, server_names: list[str], secret: str, route_config: str) -> Any:
    chain = listener_components_pb2.FilterChain(name=name)
    chain.filter_chain_match.server_names.extend(server_names)
    chain.filters.add(name="envoy.filters.network.http_connection_manager").typed_config.Pack(
        r.http_manager(route_config)
    )
    chain.transport_socket.name = "envoy.transport_sockets.tls"
    chain.transport_socket.typed_config.Pack(tls_context(secret, ["h2", "http/1.1"]))
    return chain


def stream_listener(
    name: str, host: str, port: int, *chains: Any, inspect: bool = False
) -> listener_pb2.Listener:
    listener = listener_pb2.Listener(
        name=name, address=_address(host, port), filter_chains=list(chains)
    )
    if inspect:
        inspector = listener.listener_filters.add(name="envoy.filters.listener.tls_inspector")
        inspector.typed_config.Pack(tls_inspector_pb2.TlsInspector())
    return listener


def udp_proxy(cluster: str, idle_seconds: float = 60.0, **fields: Any) -> Any:
    route = matcher_pb2.Matcher.OnMatch()
    route.action.name = "route"
    route.action.typed_config.Pack(udp_route_pb2.Route(cluster=cluster))
    config = udp_proxy_pb2.UdpProxyConfig(
        stat_prefix="udp", matcher=matcher_pb2.Matcher(on_no_match=route), **fields
    )
    config.idle_timeout.FromNanoseconds(int(idle_seconds * 1e9))
    return config


def udp_listener(name: str, host: str, port: int, config: Any) -> listener_pb2.Listener:
    listener = listener_pb2.Listener(name=name, address=_address(host, port, udp=True))
    listener.udp_listener_config.SetInParent()
    listener.listener_filters.add(name="envoy.filters.udp_listener.udp_proxy").typed_config.Pack(
        config
    )
    return listener


def l4_config(
    listeners: list[listener_pb2.Listener],
    endpoints: Endpoints,
    *,
    secrets: list[Any] | None = None,
    routes: list[Any] | None = None,
    version: str = "1",
) -> RuntimeConfig:
    """Clusters named by ``endpoints`` (endpoint weight as a third member); a cluster with no
    endpoints is like the translator's agw/invalid-backend."""
    return compile_config(
        XdsResources(
            listeners={item.name: item for item in listeners},
            route_configs={item.name: item for item in routes or []},
            clusters={name: r.cluster(name) for name in endpoints},
            load_assignments={
                name: r.load_assignment(name, *members) for name, members in endpoints.items()
            },
            secrets={item.name: item for item in secrets or []},
        ),
        version,
    )


# --- compiling ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "case",
    [
        "tlsroute-passthrough",
        "tlsroute-terminate",
        "tlsroute-mixed-with-https",
        "tcproute-weighted",
        "tcproute-cross-namespace",
        "udproute-weighted",
    ],
)
def test_translator_l4_output_compiles(case: str) -> None:
    from translator.loader import load_paths
    from translator.translate import translate
    from translator.xds import type_urls

    result = translate(load_paths([TESTDATA / f"{case}.in.yaml"]).resource_set())
    for resources in result.xds.values():
        by_type = dict(resources.by_type_url())
        config = compile_config(
            XdsResources(
                listeners=by_type.get(type_urls.LISTENER, {}),
                route_configs=by_type.get(type_urls.ROUTE_CONFIGURATION, {}),
                clusters=by_type.get(type_urls.CLUSTER, {}),
                load_assignments=by_type.get(type_urls.CLUSTER_LOAD_ASSIGNMENT, {}),
                secrets=by_type.get(type_urls.SECRET, {}),
            )
        )
        assert config.is_complete
        assert config.listeners
        assert all(lc.tcp_chains or lc.udp is not None for lc in config.listeners.values())


def test_weighted_clusters_and_tcp_and_udp_on_one_port() -> None:
    config = l4_config(
        [
            stream_listener(
                "tcp", "127.0.0.1", 5353, tcp_chain("c", tcp_proxy([("a", 3), ("b", 1)]))
            ),
            udp_listener("udp", "127.0.0.1", 5353, udp_proxy("a", idle_seconds=2)),
        ],
        {"a": [], "b": []},
    )
    (chain,) = config.listeners["tcp"].tcp_chains
    assert chain.proxy.clusters == (("a", 3), ("b", 1))
    assert chain.proxy.max_connect_attempts == 1
    udp = config.listeners["udp"].udp
    assert udp is not None and udp.cluster == "a" and udp.idle_timeout == 2.0


def test_two_tcp_listeners_on_one_port_are_rejected() -> None:
    chain = tcp_chain("c", tcp_proxy("a"))
    with pytest.raises(InvalidConfig, match="already used"):
        l4_config(
            [
                stream_listener("one", "127.0.0.1", 9000, chain),
                stream_listener("two", "127.0.0.1", 9000, chain),
            ],
            {"a": []},
        )


def _rejected(listener: listener_pb2.Listener) -> ConfigRejected:
    with pytest.raises(ConfigRejected) as caught:
        l4_config([listener], {"a": []})
    return caught.value


def test_unsupported_tcp_proxy_fields_are_nacked() -> None:
    proxy = tcp_proxy("a")
    proxy.hash_policy.add().source_ip.SetInParent()
    error = _rejected(stream_listener("l", "127.0.0.1", 9000, tcp_chain("c", proxy)))
    assert isinstance(error, UnsupportedField)
    assert "TcpProxy.hash_policy" in str(error) and "Listener 'l'" in str(error)
    weighted = tcp_proxy([("a", 1)])
    weighted.weighted_clusters.clusters[0].metadata_match.SetInParent()
    error = _rejected(stream_listener("l", "127.0.0.1", 9000, tcp_chain("c", weighted)))
    assert "TcpProxy.weighted_clusters.clusters.metadata_match" in str(error)


def test_tcp_proxy_without_a_cluster_is_invalid() -> None:
    proxy = tcp_proxy_pb2.TcpProxy(stat_prefix="tcp")
    error = _rejected(stream_listener("l", "127.0.0.1", 9000, tcp_chain("c", proxy)))
    assert isinstance(error, InvalidConfig)


def test_two_network_filters_are_nacked() -> None:
    chain = tcp_chain("c", tcp_proxy("a"))
    chain.filters.add(name="envoy.filters.network.tcp_proxy").typed_config.Pack(tcp_proxy("a"))
    error = _rejected(stream_listener("l", "127.0.0.1", 9000, chain))
    assert isinstance(error, UnsupportedValue)


def test_unsupported_udp_proxy_fields_are_nacked() -> None:
    config = udp_proxy("a", use_per_packet_load_balancing=True)
    error = _rejected(udp_listener("u", "127.0.0.1", 5353, config))
    assert "UdpProxyConfig.use_per_packet_load_balancing" in str(error)
    listed = udp_proxy("a")
    listed.matcher.matcher_list.SetInParent()
    error = _rejected(udp_listener("u", "127.0.0.1", 5353, listed))
    assert "matcher_list" in str(error)


def test_udp_listener_needs_its_udp_proxy_and_no_chains() -> None:
    bare = listener_pb2.Listener(name="u", address=_address("127.0.0.1", 5353, udp=True))
    assert isinstance(_rejected(bare), UnsupportedValue)
    with_chain = udp_listener("u", "127.0.0.1", 5353, udp_proxy("a"))
    with_chain.filter_chains.append(tcp_chain("c", tcp_proxy("a")))
    assert "filter_chains" in str(_rejected(with_chain))


def test_udp_proxy_on_a_tcp_listener_is_nacked() -> None:
    listener = stream_listener("l", "127.0.0.1", 9000, tcp_chain("c", tcp_proxy("a")))
    listener.listener_filters.add(name="envoy.filters.udp_listener.udp_proxy").typed_config.Pack(
        udp_proxy("a")
    )
    assert isinstance(_rejected(listener), UnsupportedValue)


def test_terminating_tcp_chain_waits_for_its_secret() -> None:
    listener = stream_listener(
        "l", "127.0.0.1", 9000, tcp_chain("c", tcp_proxy("a"), ["x.example.com"], "s")
    )
    config = l4_config([listener], {"a": []})
    assert config.warming_listeners == ("l",)
