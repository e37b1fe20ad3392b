"""The runtime config: a set of xDS resources compiled into what the request path reads.

``compile_config`` either returns a complete ``RuntimeConfig`` or raises ``ConfigRejected``
whose message is the NACK's error detail; the proxy keeps serving its previous config then.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from dataplane.config.cluster import ClusterConfig, compile_cluster
from dataplane.config.listener import ListenerConfig, compile_listener
from dataplane.config.route import compile_route_configuration
from dataplane.config.route_table import RouteTable
from dataplane.config.support import check_fields
from dataplane.config.values import data_source_bytes
from dataplane.errors import InvalidConfig

_EMPTY: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class XdsResources:
    """Resources by name, as received: Listener, RouteConfiguration, Cluster,
    ClusterLoadAssignment (keyed by EDS name: ``service_name`` or the cluster's name) and
    Secret protos."""

    listeners: Mapping[str, Any] = field(default_factory=dict)
    route_configs: Mapping[str, Any] = field(default_factory=dict)
    clusters: Mapping[str, Any] = field(default_factory=dict)
    load_assignments: Mapping[str, Any] = field(default_factory=dict)
    secrets: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CertificateConfig:
    name: str
    certificate_chain: bytes
    private_key: bytes


@dataclass(frozen=True, slots=True)
class RuntimeConfig:
    version: str
    # Listeners whose route configurations (and secrets) are all present.
    listeners: Mapping[str, ListenerConfig]
    route_tables: Mapping[str, RouteTable]
    clusters: Mapping[str, ClusterConfig]
    certificates: Mapping[str, CertificateConfig]
    # Names waiting for a resource they reference, as Envoy's warming lists.
    warming_listeners: tuple[str, ...] = ()
    warming_clusters: tuple[str, ...] = ()
    route_count: int = 0

    @property
    def is_complete(self) -> bool:
        return not self.warming_listeners and not self.warming_clusters


EMPTY_CONFIG = RuntimeConfig("", _EMPTY, _EMPTY, _EMPTY, _EMPTY)


def compile_config(resources: XdsResources, version: str = "") -> RuntimeConfig:
    """Compile every resource; raise ``ConfigRejected`` naming the first problem found."""
    clusters = {
        name: compile_cluster(cluster, resources.load_assignments.get(_eds_name(cluster)))
        for name, cluster in resources.clusters.items()
    }
    certificates = {name: _certificate(name, s) for name, s in resources.secrets.items()}
    route_tables = {
        name: compile_route_configuration(config)
        for name, config in resources.route_configs.items()
    }
    listeners: dict[str, ListenerConfig] = {}
    warming: list[str] = []
    for name, proto in resources.listeners.items():
        listener, inline_routes = compile_listener(proto)
        for route_name, inline in inline_routes.items():
            route_tables[route_name] = compile_route_configuration(inline)
        if _has_every_reference(listener, route_tables, certificates):
            listeners[name] = listener
        else:
            warming.append(name)
    _check_unique_addresses(listeners.values())
    return RuntimeConfig(
        version=version,
        listeners=MappingProxyType(listeners),
        route_tables=MappingProxyType(route_tables),
        clusters=MappingProxyType(clusters),
        certificates=MappingProxyType(certificates),
        warming_listeners=tuple(sorted(warming)),
        warming_clusters=tuple(sorted(n for n, c in clusters.items() if c.warming)),
        route_count=sum(table.route_count for table in route_tables.values()),
    )


def _eds_name(cluster: Any) -> str:
    """EDS resources are named by ``service_name`` when set, else by the cluster's name."""
    return str(cluster.eds_cluster_config.service_name or cluster.name)


def _has_every_reference(
    listener: ListenerConfig,
    route_tables: Mapping[str, RouteTable],
    certificates: Mapping[str, CertificateConfig],
) -> bool:
    for chain in listener.filter_chains:
        if chain.http.route_config not in route_tables:
            return False
        if chain.tls is not None and any(n not in certificates for n in chain.tls.secret_names):
            return False
    for tcp_chain in listener.tcp_chains:
        tls = tcp_chain.tls
        if tls is not None and any(n not in certificates for n in tls.secret_names):
            return False
    return True


def _check_unique_addresses(listeners: Any) -> None:
    # A TCP and a UDP listener may share an address and port.
    seen: dict[tuple[str, int, bool], str] = {}
    for listener in listeners:
        key = (listener.host, listener.port, listener.udp is not None)
        if key in seen and listener.port != 0:
            raise InvalidConfig(
                f"Listener {listener.name!r}: {key[0]}:{key[1]} is already used by "
                f"Listener {seen[key]!r}"
            )
        seen[key] = listener.name


def _certificate(name: str, secret: Any) -> CertificateConfig:
    check_fields(secret, where=f"Secret {name!r}")
    if not secret.HasField("tls_certificate"):
        raise InvalidConfig(f"Secret {name!r}: only tls_certificate secrets are supported")
    certificate = secret.tls_certificate
    return CertificateConfig(
        name,
        data_source_bytes(certificate.certificate_chain),
        data_source_bytes(certificate.private_key),
    )
