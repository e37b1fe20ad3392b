"""Hand-built xDS protos for the control-plane tests: a listener whose HCM uses RDS over ADS,
routes to EDS clusters, and their ClusterLoadAssignments, assembled into snapshots."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from envoy.config.cluster.v3.cluster_pb2 import Cluster
from envoy.config.core.v3.address_pb2 import Address, SocketAddress
from envoy.config.core.v3.config_source_pb2 import V3, AggregatedConfigSource, ConfigSource
from envoy.config.endpoint.v3.endpoint_components_pb2 import (
    Endpoint,
    LbEndpoint,
    LocalityLbEndpoints,
)
from envoy.config.endpoint.v3.endpoint_pb2 import ClusterLoadAssignment
from envoy.config.listener.v3.listener_components_pb2 import Filter, FilterChain
from envoy.config.listener.v3.listener_pb2 import Listener
from envoy.config.route.v3.route_components_pb2 import (
    Route,
    RouteAction,
    RouteMatch,
    VirtualHost,
)
from envoy.config.route.v3.route_pb2 import RouteConfiguration
from envoy.extensions.filters.http.router.v3.router_pb2 import Router
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm,
)
from envoy.extensions.transport_sockets.tls.v3.secret_pb2 import Secret
from google.protobuf.any_pb2 import Any as AnyProto
from google.protobuf.duration_pb2 import Duration
from google.protobuf.message import Message

from controlplane.xds.snapshot import Snapshot
from translator.xds import type_urls

CDS = type_urls.CLUSTER
EDS = type_urls.CLUSTER_LOAD_ASSIGNMENT
LDS = type_urls.LISTENER
RDS = type_urls.ROUTE_CONFIGURATION
SDS = type_urls.SECRET


def _ads_source() -> ConfigSource:
    return ConfigSource(ads=AggregatedConfigSource(), resource_api_version=V3)


def _packed(message: Message) -> AnyProto:
    packed = AnyProto()
    packed.Pack(message)
    return packed


def listener(
    name: str, route_config: str, address: str = "127.0.0.1", port: int = 10000
) -> Listener:
    manager = hcm.HttpConnectionManager(
        stat_prefix=name.replace("/", "_"),
        rds=hcm.Rds(config_source=_ads_source(), route_config_name=route_config),
        http_filters=[
            hcm.HttpFilter(name="envoy.filters.http.router", typed_config=_packed(Router()))
        ],
    )
    return Listener(
        name=name,
        address=Address(socket_address=SocketAddress(address=address, port_value=port)),
        filter_chains=[
            FilterChain(
                filters=[
                    Filter(
                        name="envoy.filters.network.http_connection_manager",
                        typed_config=_packed(manager),
                    )
                ]
            )
        ],
    )


def route_config(
    name: str, cluster: str, *, routes: int = 1, virtual_hosts: int = 1
) -> RouteConfiguration:
    """``routes`` prefix routes spread over ``virtual_hosts``; the last of each host catches
    ``/`` and goes to ``cluster``, the others go to ``cluster`` too unless overridden."""
    hosts = []
    per_host = max(1, routes // virtual_hosts)
    for index in range(virtual_hosts):
        domains = ["*"] if index == virtual_hosts - 1 else [f"host-{index}.example.com"]
        entries = [
            Route(match=RouteMatch(prefix=f"/r{i}/"), route=RouteAction(cluster=cluster))
            for i in range(per_host - 1)
        ]
        entries.append(Route(match=RouteMatch(prefix="/"), route=RouteAction(cluster=cluster)))
        hosts.append(VirtualHost(name=f"vh-{index}", domains=domains, routes=entries))
    return RouteConfiguration(name=name, virtual_hosts=hosts)


def eds_cluster(name: str, connect_timeout: float = 1.0) -> Cluster:
    seconds, fraction = divmod(connect_timeout, 1)
    return Cluster(
        name=name,
        type=Cluster.EDS,
        eds_cluster_config=Cluster.EdsClusterConfig(eds_config=_ads_source()),
        connect_timeout=Duration(seconds=int(seconds), nanos=round(fraction * 1e9)),
    )


def load_assignment(cluster: str, endpoints: Iterable[tuple[str, int]]) -> ClusterLoadAssignment:
    return ClusterLoadAssignment(
        cluster_name=cluster,
        endpoints=[
            LocalityLbEndpoints(
                lb_endpoints=[
                    LbEndpoint(
                        endpoint=Endpoint(
                            address=Address(
                                socket_address=SocketAddress(address=host, port_value=port)
                            )
                        )
                    )
                    for host, port in endpoints
                ]
            )
        ],
    )


def secret(name: str, value: str = "") -> Secret:
    secret = Secret(name=name)
    secret.generic_secret.secret.inline_string = value
    return secret


def snapshot(
    version: str | None = None,
    *,
    listeners: Sequence[Listener] = (),
    routes: Sequence[RouteConfiguration] = (),
    clusters: Sequence[Cluster] = (),
    endpoints: Sequence[ClusterLoadAssignment] = (),
    secrets: Sequence[Secret] = (),
) -> Snapshot:
    resources: dict[str, Mapping[str, Message]] = {
        LDS: {item.name: item for item in listeners},
        RDS: {item.name: item for item in routes},
        CDS: {item.name: item for item in clusters},
        EDS: {item.cluster_name: item for item in endpoints},
        SDS: {item.name: item for item in secrets},
    }
    return Snapshot.from_resources(resources, version)


def gateway_snapshot(
    version: str | None,
    backends: Mapping[str, Sequence[tuple[str, int]]],
    route_to: str,
    *,
    listen: tuple[str, int] = ("127.0.0.1", 10000),
    routes: int = 1,
    virtual_hosts: int = 1,
    connect_timeout: float = 1.0,
) -> Snapshot:
    """One listener, one route config sending everything to ``route_to``, one EDS cluster per
    entry of ``backends`` (name to endpoints)."""
    return snapshot(
        version,
        listeners=[listener("gw/http", "gw/routes", *listen)],
        routes=[route_config("gw/routes", route_to, routes=routes, virtual_hosts=virtual_hosts)],
        clusters=[eds_cluster(name, connect_timeout) for name in backends],
        endpoints=[load_assignment(name, eps) for name, eps in backends.items()],
    )


def large_snapshot(
    version: str,
    endpoint: tuple[str, int],
    *,
    clusters: int = 100,
    routes: int = 1_000,
    virtual_hosts: int = 4,
    listen: tuple[str, int] = ("127.0.0.1", 10000),
    salt: str = "",
) -> Snapshot:
    """``routes`` routes over ``virtual_hosts`` hosts, route i going to cluster i % clusters;
    ``salt`` changes every route's prefix, so a new salt rewrites the whole configuration."""
    names = [f"service/default/svc-{index}/80" for index in range(clusters)]
    per_host = routes // virtual_hosts
    hosts = [
        VirtualHost(
            name=f"vh-{host}",
            domains=["*"] if host == virtual_hosts - 1 else [f"host-{host}.example.com"],
            routes=[
                Route(
                    match=RouteMatch(prefix=f"/{salt}r{index}/"),
                    route=RouteAction(cluster=names[index % clusters]),
                )
                for index in range(host * per_host, (host + 1) * per_host)
            ],
        )
        for host in range(virtual_hosts)
    ]
    return snapshot(
        version,
        listeners=[listener("gw/http", "gw/routes", *listen)],
        routes=[RouteConfiguration(name="gw/routes", virtual_hosts=hosts)],
        clusters=[eds_cluster(name) for name in names],
        endpoints=[load_assignment(name, [endpoint]) for name in names],
    )
