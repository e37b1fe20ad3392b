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
from dataplane.config.route_patch import compile_encoded_route_configuration
from dataplane.config.route_table import RouteTable, build_route_table
from dataplane.config.support import check_fields
from dataplane.config.tls_context import CertificateConfig
from dataplane.config.upstream_tls import resolve_upstream_tls, trust_bundle
from dataplane.config.values import data_source_bytes
from dataplane.errors import InvalidConfig

_EMPTY: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class XdsResources:
    """Resources by name, as received: Listener, RouteConfiguration, Cluster,
    ClusterLoadAssignment (keyed by EDS name: ``service_name`` or the cluster's name) and
    Secret protos. A RouteConfiguration may also be given serialized (bytes): it is then
    compiled by what changed since the last one of its name (dataplane.config.route_patch)."""

    listeners: Mapping[str, Any] = field(default_factory=dict)
    route_configs: Mapping[str, Any] = field(default_factory=dict)
    clusters: Mapping[str, Any] = field(default_factory=dict)
    load_assignments: Mapping[str, Any] = field(default_factory=dict)
    secrets: Mapping[str, Any] = field(default_factory=dict)


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
    # Secrets holding a validation_context: PEM bundles of trusted CAs.
    trust_bundles: Mapping[str, bytes] = field(default_factory=lambda: _EMPTY)

    @property
    def is_complete(self) -> bool:
        return not self.warming_listeners and not self.warming_clusters


EMPTY_CONFIG = RuntimeConfig("", _EMPTY, _EMPTY, _EMPTY, _EMPTY)


def compile_config(
    resources: XdsResources, version: str = "", *, with_routes: bool = True
) -> RuntimeConfig:
    """Compile every resource; raise ``ConfigRejected`` naming the first problem found.

    ``with_routes=False`` leaves route configurations uncompiled (empty tables under their
    names): for the worker pool's parent, which serves no traffic and whose workers compile,
    check and NACK route configurations themselves. Compiling thousands of routes once more
    there only delayed every update and held a second copy in memory."""
    route_compiler = _compiled_routes if with_routes else _uncompiled
    certificates: dict[str, CertificateConfig] = {}
    trust_bundles: dict[str, bytes] = {}
    for name, secret in resources.secrets.items():
        check_fields(secret, where=f"Secret {name!r}")
        if secret.HasField("validation_context"):
            trust_bundles[name] = trust_bundle(name, secret)
        else:
            certificates[name] = _certificate(name, secret)
    clusters = {
        name: resolve_upstream_tls(
            _cluster(name, cluster, resources.load_assignments.get(_eds_name(cluster))),
            certificates,
            trust_bundles,
        )
        for name, cluster in resources.clusters.items()
    }
    route_tables = {
        name: route_compiler(name, config) for name, config in resources.route_configs.items()
    }
    listeners: dict[str, ListenerConfig] = {}
    warming: list[str] = []
    for name, proto in resources.listeners.items():
        listener, inline_routes = _listener(name, proto)
        for route_name, inline in inline_routes.items():
            route_tables[route_name] = route_compiler(route_name, inline)
        if _has_every_reference(listener, route_tables, certificates, trust_bundles):
            listeners[name] = listener
        else:
            warming.append(name)
    _check_unique_addresses(listeners.values())
    _forget_all_but(resources)
    return RuntimeConfig(
        version=version,
        listeners=MappingProxyType(listeners),
        route_tables=MappingProxyType(route_tables),
        clusters=MappingProxyType(clusters),
        certificates=MappingProxyType(certificates),
        warming_listeners=tuple(sorted(warming)),
        warming_clusters=tuple(sorted(n for n, c in clusters.items() if c.warming)),
        route_count=sum(table.route_count for table in route_tables.values()),
        trust_bundles=MappingProxyType(trust_bundles),
    )


# The latest compiled listener and cluster of each name, with the messages they came from: an
# update usually changes routes alone, and checking and compiling the same listeners and
# clusters again cost more than the routes' change. Compared by identity: the xDS client and
# the workers keep an unchanged resource the very same message (held here, so its id stays).
_LISTENERS: dict[str, tuple[Any, tuple[ListenerConfig, dict[str, Any]]]] = {}
_CLUSTERS: dict[str, tuple[Any, Any, ClusterConfig]] = {}


def _listener(name: str, proto: Any) -> tuple[ListenerConfig, dict[str, Any]]:
    cached = _LISTENERS.get(name)
    if cached is not None and cached[0] is proto:
        return cached[1]
    compiled = compile_listener(proto)
    _LISTENERS[name] = (proto, compiled)
    return compiled


def _cluster(name: str, proto: Any, assignment: Any | None) -> ClusterConfig:
    cached = _CLUSTERS.get(name)
    if cached is not None and cached[0] is proto and cached[1] is assignment:
        return cached[2]
    compiled = compile_cluster(proto, assignment)
    _CLUSTERS[name] = (proto, assignment, compiled)
    return compiled


def _forget_all_but(resources: XdsResources) -> None:
    for name in [n for n in _LISTENERS if n not in resources.listeners]:
        del _LISTENERS[name]
    for name in [n for n in _CLUSTERS if n not in resources.clusters]:
        del _CLUSTERS[name]


def _compiled_routes(name: str, config: Any) -> RouteTable:
    if isinstance(config, bytes):
        return compile_encoded_route_configuration(name, config)
    return compile_route_configuration(config)


def _uncompiled(name: str, config: Any) -> RouteTable:
    return build_route_table(name, [])


def _eds_name(cluster: Any) -> str:
    """EDS resources are named by ``service_name`` when set, else by the cluster's name."""
    return str(cluster.eds_cluster_config.service_name or cluster.name)


def _has_every_reference(
    listener: ListenerConfig,
    route_tables: Mapping[str, RouteTable],
    certificates: Mapping[str, CertificateConfig],
    trust_bundles: Mapping[str, bytes],
) -> bool:
    for chain in listener.filter_chains:
        if chain.http.route_config not in route_tables:
            return False
    chains = [chain.tls for chain in listener.filter_chains]
    chains += [chain.tls for chain in listener.tcp_chains]
    for tls in chains:
        if tls is None:
            continue
        if any(n not in certificates for n in tls.secret_names):
            return False
        if tls.client_ca_secret is not None and tls.client_ca_secret not in trust_bundles:
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
    if not secret.HasField("tls_certificate"):
        raise InvalidConfig(f"Secret {name!r}: a tls_certificate or validation_context is required")
    certificate = secret.tls_certificate
    return CertificateConfig(
        name,
        data_source_bytes(certificate.certificate_chain),
        data_source_bytes(certificate.private_key),
    )
