"""Stream and datagram proxies: tcp_proxy filter chains (TCP, TLS passthrough and TLS
terminate) and udp_proxy listeners."""

from __future__ import annotations

from envoy.config.core.v3 import address_pb2
from envoy.config.listener.v3 import listener_components_pb2, listener_pb2, udp_listener_config_pb2
from envoy.extensions.filters.network.tcp_proxy.v3 import tcp_proxy_pb2
from envoy.extensions.filters.udp.udp_proxy.v3 import route_pb2 as udp_route_pb2
from envoy.extensions.filters.udp.udp_proxy.v3 import udp_proxy_pb2
from google.protobuf import duration_pb2
from google.protobuf.message import Message
from xds.core.v3 import extension_pb2
from xds.type.matcher.v3 import matcher_pb2

from translator import naming
from translator.ir import L4Backend, Listener, TcpFilterChain, UdpFilterChain
from translator.xds.extensions import TCP_PROXY, UDP_PROXY, pack


def build_tcp_chain(chain: TcpFilterChain, downstream_tls: Message | None) -> Message:
    built = listener_components_pb2.FilterChain(
        name=chain.name,
        filters=[
            listener_components_pb2.Filter(name=TCP_PROXY, typed_config=pack(_tcp_proxy(chain)))
        ],
    )
    if chain.server_names:
        built.filter_chain_match.server_names.extend(chain.server_names)
    if downstream_tls is not None:
        built.transport_socket.CopyFrom(downstream_tls)
    return built


def _tcp_proxy(chain: TcpFilterChain) -> Message:
    proxy = tcp_proxy_pb2.TcpProxy(stat_prefix=chain.name)
    receiving = [backend for backend in chain.backends if backend.weight > 0]
    if len(receiving) == 1 or not any(backend.cluster for backend in receiving):
        proxy.cluster = _cluster_or_invalid(receiving[0] if receiving else None)
        return proxy
    proxy.weighted_clusters.clusters.extend(
        tcp_proxy_pb2.TcpProxy.WeightedCluster.ClusterWeight(
            name=_cluster_or_invalid(backend), weight=backend.weight
        )
        for backend in receiving
    )
    return proxy


def _cluster_or_invalid(backend: L4Backend | None) -> str:
    # A connection sent to a cluster without endpoints is closed: what an invalid backendRef
    # (or a route without backends) should do to a stream.
    if backend is None or backend.cluster is None:
        return naming.INVALID_BACKEND_CLUSTER
    return backend.cluster


def uses_invalid_backend(chain: TcpFilterChain) -> bool:
    receiving = [backend for backend in chain.backends if backend.weight > 0]
    return not receiving or any(backend.cluster is None for backend in receiving)


def build_udp_listener(listener: Listener) -> Message:
    (chain,) = listener.filter_chains
    assert isinstance(chain, UdpFilterChain)
    receiving = [backend for backend in chain.backends if backend.weight > 0 and backend.cluster]
    cluster = receiving[0].cluster if receiving else naming.INVALID_BACKEND_CLUSTER
    route = matcher_pb2.Matcher.OnMatch(
        action=extension_pb2.TypedExtensionConfig(
            name="route", typed_config=pack(udp_route_pb2.Route(cluster=cluster))
        )
    )
    config = udp_proxy_pb2.UdpProxyConfig(
        stat_prefix=chain.name,
        matcher=matcher_pb2.Matcher(on_no_match=route),
        idle_timeout=duration_pb2.Duration(seconds=int(chain.idle_timeout_seconds)),
    )
    return listener_pb2.Listener(
        name=listener.name,
        address=address_pb2.Address(
            socket_address=address_pb2.SocketAddress(
                protocol=address_pb2.SocketAddress.UDP,
                address=listener.address,
                port_value=listener.port,
            )
        ),
        udp_listener_config=udp_listener_config_pb2.UdpListenerConfig(),
        listener_filters=[
            listener_components_pb2.ListenerFilter(name=UDP_PROXY, typed_config=pack(config))
        ],
    )


def udp_uses_invalid_backend(chain: UdpFilterChain) -> bool:
    return not any(backend.weight > 0 and backend.cluster for backend in chain.backends)
