"""One gateway's xDS resources, and stage 2's entry point that builds them from the IR."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from envoy.config.route.v3 import route_pb2 as route_config_pb2
from google.protobuf.message import Message

from translator.ir import (
    ForwardAction,
    GatewayIR,
    HttpFilterChain,
    Listener,
    TcpFilterChain,
    UdpFilterChain,
)
from translator.xds import type_urls
from translator.xds.built_routes import BuiltRoutes, EncodedConfig, RouteReferences
from translator.xds.cluster import (
    INVALID_BACKEND_CLUSTER,
    build_cluster,
    build_invalid_backend_cluster,
    build_load_assignment,
)
from translator.xds.encoded import EncodedMessages
from translator.xds.errors import DuplicateResourceName
from translator.xds.forward import needs_invalid_backend_cluster
from translator.xds.l4 import udp_uses_invalid_backend, uses_invalid_backend
from translator.xds.listener import build_listener
from translator.xds.route import build_route_configuration
from translator.xds.secret import build_secret


@dataclass(frozen=True, slots=True)
class XdsResources:
    """Resources by name, each mapping sorted by name. ``endpoints`` are keyed by cluster."""

    listeners: Mapping[str, Message]
    route_configs: Mapping[str, Message]
    clusters: Mapping[str, Message]
    endpoints: Mapping[str, Message]
    secrets: Mapping[str, Message]
    # Route configuration name -> the clusters its routes use, when stage 2 kept track
    # (incremental translation); the consistency check reads the protos otherwise.
    route_references: Mapping[str, RouteReferences] = field(default_factory=dict)

    def by_type_url(self) -> dict[str, Mapping[str, Message]]:
        return {
            type_urls.LISTENER: self.listeners,
            type_urls.ROUTE_CONFIGURATION: self.route_configs,
            type_urls.CLUSTER: self.clusters,
            type_urls.CLUSTER_LOAD_ASSIGNMENT: self.endpoints,
            type_urls.SECRET: self.secrets,
        }


def _by_name(kind: str, named: Iterable[tuple[str, Message]]) -> Mapping[str, Message]:
    """A read-only mapping sorted by name; ``kind`` names the resource type in errors."""
    collected: dict[str, Message] = {}
    for name, message in named:
        if name in collected:
            raise DuplicateResourceName(f"two {kind} resources are named {name!r}")
        collected[name] = message
    return MappingProxyType(dict(sorted(collected.items())))


def build_resources(gateway: GatewayIR, built: BuiltRoutes | None = None) -> XdsResources:
    """``built``: route protos of earlier translations to reuse (translator.incremental); with
    it, route configurations are kept serialized (translator.xds.encoded)."""
    if built is None:
        route_configs = _by_name("route configuration", _route_configurations(gateway))
        references: dict[str, RouteReferences] = {}
        invalid_backend = _routes_use_invalid_backend(gateway)
    else:
        encoded = _encoded_route_configurations(gateway, built)
        route_configs = EncodedMessages(
            route_config_pb2.RouteConfiguration,
            {name: encoded[name].data for name in sorted(encoded)},
        )
        references = {name: config.references for name, config in encoded.items()}
        invalid_backend = any(config.invalid_backend_hosts for config in encoded.values())
    clusters = [(cluster.name, build_cluster(cluster)) for cluster in gateway.clusters]
    if invalid_backend or _chains_use_invalid_backend(gateway):
        clusters.append((INVALID_BACKEND_CLUSTER, build_invalid_backend_cluster()))
    return XdsResources(
        listeners=_by_name(
            "listener",
            ((listener.name, build_listener(listener)) for listener in gateway.listeners),
        ),
        route_configs=route_configs,
        clusters=_by_name("cluster", clusters),
        endpoints=_by_name(
            "load assignment",
            ((cluster.name, build_load_assignment(cluster)) for cluster in gateway.clusters),
        ),
        secrets=_by_name(
            "secret", ((secret.name, build_secret(secret)) for secret in gateway.secrets)
        ),
        route_references=references,
    )


def _route_configurations(gateway: GatewayIR) -> list[tuple[str, Message]]:
    serving = _serving_listener(gateway.listeners)
    configs: list[tuple[str, Message]] = []
    for config in gateway.route_configs:
        port, scheme = serving.get(config.name, (80, "http"))
        message = build_route_configuration(config, listener_port=port, listener_scheme=scheme)
        configs.append((config.name, message))
    return configs


def _encoded_route_configurations(
    gateway: GatewayIR, built: BuiltRoutes
) -> dict[str, EncodedConfig]:
    serving = _serving_listener(gateway.listeners)
    configs: dict[str, EncodedConfig] = {}
    for config in gateway.route_configs:
        if config.name in configs:
            raise DuplicateResourceName(
                f"two route configuration resources are named {config.name!r}"
            )
        port, scheme = serving.get(config.name, (80, "http"))
        configs[config.name] = built.encode(config, listener_port=port, listener_scheme=scheme)
    return configs


def _serving_listener(listeners: Iterable[Listener]) -> dict[str, tuple[int, str]]:
    """Route configuration name -> (port, scheme) of the listener that uses it.

    A route configuration serves one port (see translator.naming); one nobody uses gets
    plain-HTTP defaults, which no request can observe.
    """
    serving: dict[str, tuple[int, str]] = {}
    for listener in listeners:
        for chain in listener.filter_chains:
            if not isinstance(chain, HttpFilterChain):
                continue
            scheme = "http" if chain.tls is None else "https"
            serving.setdefault(chain.route_config, (listener.port, scheme))
    return serving


def _chains_use_invalid_backend(gateway: GatewayIR) -> bool:
    for listener in gateway.listeners:
        for chain in listener.filter_chains:
            if isinstance(chain, TcpFilterChain) and uses_invalid_backend(chain):
                return True
            if isinstance(chain, UdpFilterChain) and udp_uses_invalid_backend(chain):
                return True
    return False


def _routes_use_invalid_backend(gateway: GatewayIR) -> bool:
    return any(
        isinstance(route.action, ForwardAction) and needs_invalid_backend_cluster(route.action)
        for config in gateway.route_configs
        for host in config.virtual_hosts
        for route in host.routes
    )
