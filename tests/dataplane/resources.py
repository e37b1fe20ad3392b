"""Envoy xDS resources for the data-plane tests, built the way the translator emits them."""

from __future__ import annotations

from typing import Any

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.core.v3 import address_pb2, base_pb2, config_source_pb2
from envoy.config.endpoint.v3 import endpoint_components_pb2, endpoint_pb2
from envoy.config.listener.v3 import listener_components_pb2, listener_pb2
from envoy.config.route.v3 import route_components_pb2, route_pb2
from envoy.extensions.filters.http.router.v3 import router_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)

from dataplane.config import RuntimeConfig, XdsResources, compile_config

# Proto classes have no stubs; as Any they can be called and read without casts in tests.
Route: Any = route_components_pb2.Route
RouteMatch: Any = route_components_pb2.RouteMatch
RouteAction: Any = route_components_pb2.RouteAction
VirtualHost: Any = route_components_pb2.VirtualHost
HeaderMatcher: Any = route_components_pb2.HeaderMatcher
QueryParameterMatcher: Any = route_components_pb2.QueryParameterMatcher


def http_manager(route_config: str, **fields: Any) -> hcm_pb2.HttpConnectionManager:
    manager = hcm_pb2.HttpConnectionManager(
        stat_prefix="http",
        rds=hcm_pb2.Rds(
            route_config_name=route_config,
            config_source=config_source_pb2.ConfigSource(
                ads=config_source_pb2.AggregatedConfigSource(),
                resource_api_version=config_source_pb2.V3,
            ),
        ),
        **fields,
    )
    router = manager.http_filters.add(name="envoy.filters.http.router")
    router.typed_config.Pack(router_pb2.Router())
    return manager


def listener(
    name: str, host: str, port: int, route_config: str, **manager_fields: Any
) -> listener_pb2.Listener:
    manager = http_manager(route_config, **manager_fields)
    chain = listener_components_pb2.FilterChain()
    network_filter = chain.filters.add(name="envoy.filters.network.http_connection_manager")
    network_filter.typed_config.Pack(manager)
    return listener_pb2.Listener(
        name=name,
        address=address_pb2.Address(
            socket_address=address_pb2.SocketAddress(address=host, port_value=port)
        ),
        filter_chains=[chain],
    )


def route_config(name: str, *vhosts: Any) -> Any:
    return route_pb2.RouteConfiguration(name=name, virtual_hosts=list(vhosts))


def vhost(name: str, domains: list[str], *routes: Any) -> Any:
    return VirtualHost(name=name, domains=domains, routes=list(routes))


def to_cluster(name: str, prefix: str = "/", **action: Any) -> Any:
    return Route(
        name=f"{name}{prefix}",
        match=RouteMatch(prefix=prefix),
        route=RouteAction(cluster=name, **action),
    )


def cluster(name: str, connect_timeout: float = 1.0, **fields: Any) -> cluster_pb2.Cluster:
    result = cluster_pb2.Cluster(
        name=name,
        type=cluster_pb2.Cluster.EDS,
        eds_cluster_config=cluster_pb2.Cluster.EdsClusterConfig(
            eds_config=config_source_pb2.ConfigSource(
                ads=config_source_pb2.AggregatedConfigSource(),
                resource_api_version=config_source_pb2.V3,
            )
        ),
        **fields,
    )
    result.connect_timeout.FromNanoseconds(int(connect_timeout * 1e9))
    return result


def load_assignment(
    name: str, *endpoints: tuple[str, int] | tuple[str, int, int]
) -> endpoint_pb2.ClusterLoadAssignment:
    lb_endpoints = []
    for endpoint in endpoints:
        host, port = endpoint[0], endpoint[1]
        lb_endpoint = endpoint_components_pb2.LbEndpoint(
            endpoint=endpoint_components_pb2.Endpoint(
                address=address_pb2.Address(
                    socket_address=address_pb2.SocketAddress(address=host, port_value=port)
                )
            )
        )
        if len(endpoint) == 3:
            lb_endpoint.load_balancing_weight.value = endpoint[2]
        lb_endpoints.append(lb_endpoint)
    return endpoint_pb2.ClusterLoadAssignment(
        cluster_name=name,
        endpoints=[endpoint_components_pb2.LocalityLbEndpoints(lb_endpoints=lb_endpoints)],
    )


def header(name: str, value: str, action: str = "APPEND_IF_EXISTS_OR_ADD") -> Any:
    return base_pb2.HeaderValueOption(
        header=base_pb2.HeaderValue(key=name, value=value),
        append_action=base_pb2.HeaderValueOption.HeaderAppendAction.Value(action),
    )


def compiled(
    listeners: list[listener_pb2.Listener],
    routes: list[route_pb2.RouteConfiguration],
    clusters: dict[str, list[tuple[str, int]]] | None = None,
    version: str = "1",
    cluster_protos: list[cluster_pb2.Cluster] | None = None,
) -> RuntimeConfig:
    cluster_map = {c.name: c for c in cluster_protos or []}
    assignments = {}
    for name, endpoints in (clusters or {}).items():
        cluster_map.setdefault(name, cluster(name))
        assignments[name] = load_assignment(name, *endpoints)
    return compile_config(
        XdsResources(
            listeners={item.name: item for item in listeners},
            route_configs={item.name: item for item in routes},
            clusters=cluster_map,
            load_assignments=assignments,
        ),
        version,
    )


def tls_listener(
    name: str, host: str, port: int, chains: list[tuple[list[str], str, str]]
) -> listener_pb2.Listener:
    """A TLS listener: one filter chain per (server names, SDS secret name, route config)."""
    from envoy.extensions.filters.listener.tls_inspector.v3 import tls_inspector_pb2
    from envoy.extensions.transport_sockets.tls.v3 import tls_pb2

    result = listener_pb2.Listener(
        name=name,
        address=address_pb2.Address(
            socket_address=address_pb2.SocketAddress(address=host, port_value=port)
        ),
    )
    inspector = result.listener_filters.add(name="envoy.filters.listener.tls_inspector")
    inspector.typed_config.Pack(tls_inspector_pb2.TlsInspector())
    for server_names, secret_name, route_config_name in chains:
        chain = result.filter_chains.add(name=f"{name}/{secret_name}")
        chain.filter_chain_match.server_names.extend(server_names)
        chain.filter_chain_match.transport_protocol = "tls"
        network_filter = chain.filters.add(name="envoy.filters.network.http_connection_manager")
        network_filter.typed_config.Pack(http_manager(route_config_name))
        context = tls_pb2.DownstreamTlsContext()
        context.common_tls_context.alpn_protocols.extend(["h2", "http/1.1"])
        context.common_tls_context.tls_certificate_sds_secret_configs.add(
            name=secret_name,
            sds_config=config_source_pb2.ConfigSource(
                ads=config_source_pb2.AggregatedConfigSource(),
                resource_api_version=config_source_pb2.V3,
            ),
        )
        chain.transport_socket.name = "envoy.transport_sockets.tls"
        chain.transport_socket.typed_config.Pack(context)
    return result


def tls_secret(name: str, chain_pem: bytes, key_pem: bytes) -> Any:
    from envoy.extensions.transport_sockets.tls.v3 import secret_pb2

    secret = secret_pb2.Secret(name=name)
    secret.tls_certificate.certificate_chain.inline_bytes = chain_pem
    secret.tls_certificate.private_key.inline_bytes = key_pem
    return secret
