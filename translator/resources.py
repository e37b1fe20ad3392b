"""ResourceSet: one complete, immutable snapshot of every object the translator reads.

Sources (file, Kubernetes) publish a new ResourceSet on every change; the translator never
mutates one. Each tuple is sorted by (namespace, name) so that translating the same objects
always visits them in the same order.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields
from functools import cached_property
from typing import TypeVar, cast

from translator.model import (
    AgentgatewayParameters,
    AgentgatewayPolicy,
    BackendTLSPolicy,
    ConfigMap,
    EndpointSlice,
    Gateway,
    GatewayClass,
    GRPCRoute,
    HTTPRoute,
    ListenerSet,
    Namespace,
    ReferenceGrant,
    Resource,
    Secret,
    Service,
    TCPRoute,
    TLSRoute,
    UDPRoute,
    XBackendTrafficPolicy,
)

T = TypeVar("T", bound=Resource)

# Which tuple holds each kind; the ResourceSet fields follow this order.
_FIELD_OF_KIND: dict[type[Resource], str] = {
    GatewayClass: "gateway_classes",
    Gateway: "gateways",
    HTTPRoute: "http_routes",
    GRPCRoute: "grpc_routes",
    TLSRoute: "tls_routes",
    TCPRoute: "tcp_routes",
    UDPRoute: "udp_routes",
    ReferenceGrant: "reference_grants",
    BackendTLSPolicy: "backend_tls_policies",
    XBackendTrafficPolicy: "backend_traffic_policies",
    ListenerSet: "listener_sets",
    AgentgatewayParameters: "agentgateway_parameters",
    AgentgatewayPolicy: "agentgateway_policies",
    Namespace: "namespaces",
    Service: "services",
    EndpointSlice: "endpoint_slices",
    Secret: "secrets",
    ConfigMap: "config_maps",
}


FIELD_NAMES: tuple[str, ...] = tuple(_FIELD_OF_KIND.values())
_FIELD_INDEX: dict[type[Resource], int] = {kind: i for i, kind in enumerate(_FIELD_OF_KIND)}


def field_index(kind: type[Resource]) -> int:
    """The position, in ``FIELD_NAMES``, of the field that holds ``kind``."""
    index = _FIELD_INDEX.get(kind)
    if index is None:
        raise TypeError(f"a ResourceSet cannot hold {kind.__name__}")
    return index


@dataclass(frozen=True)
class ResourceSet:
    gateway_classes: tuple[GatewayClass, ...] = ()
    gateways: tuple[Gateway, ...] = ()
    http_routes: tuple[HTTPRoute, ...] = ()
    grpc_routes: tuple[GRPCRoute, ...] = ()
    tls_routes: tuple[TLSRoute, ...] = ()
    tcp_routes: tuple[TCPRoute, ...] = ()
    udp_routes: tuple[UDPRoute, ...] = ()
    reference_grants: tuple[ReferenceGrant, ...] = ()
    backend_tls_policies: tuple[BackendTLSPolicy, ...] = ()
    backend_traffic_policies: tuple[XBackendTrafficPolicy, ...] = ()
    listener_sets: tuple[ListenerSet, ...] = ()
    agentgateway_parameters: tuple[AgentgatewayParameters, ...] = ()
    agentgateway_policies: tuple[AgentgatewayPolicy, ...] = ()
    namespaces: tuple[Namespace, ...] = ()
    services: tuple[Service, ...] = ()
    endpoint_slices: tuple[EndpointSlice, ...] = ()
    secrets: tuple[Secret, ...] = ()
    config_maps: tuple[ConfigMap, ...] = ()

    @classmethod
    def from_objects(cls, objects: Iterable[Resource]) -> ResourceSet:
        """Group and sort ``objects``; of two objects with the same kind and key, the later wins."""
        # Keyed (namespace, name, field index) so that one C-level sort of the keys orders
        # every field: a key function per object cost more than the rest of an update.
        latest: dict[tuple[str, str, int], Resource] = {}
        for item in objects:
            index = _FIELD_INDEX.get(type(item))
            if index is None:
                raise TypeError(f"a ResourceSet cannot hold {type(item).__name__}")
            meta = item.metadata
            latest[(meta.namespace, meta.name, index)] = item
        buckets: list[list[Resource]] = [[] for _ in FIELD_NAMES]
        for key in sorted(latest):
            buckets[key[2]].append(latest[key])
        # The buckets hold exactly the kind each field declares (the table above says so).
        return cls(**{name: tuple(b) for name, b in zip(FIELD_NAMES, buckets, strict=True)})  # type: ignore[arg-type]

    def get(self, kind: type[T], namespace: str, name: str) -> T | None:
        """The object of this kind and key (namespace "" for cluster-scoped kinds), or None."""
        index = self._indexes.get(kind)
        if index is None:
            field = _FIELD_OF_KIND.get(kind)
            if field is None:
                return None
            index = self._indexes[kind] = {item.key: item for item in getattr(self, field)}
        return cast(T | None, index.get((namespace, name)))

    def endpoint_slices_for(self, namespace: str, service: str) -> tuple[EndpointSlice, ...]:
        """The EndpointSlices labelled kubernetes.io/service-name=<service> in ``namespace``."""
        return self._slices_by_service.get((namespace, service), ())

    def objects(self) -> Iterator[Resource]:
        """Every object: kinds in field order, each kind sorted by (namespace, name)."""
        for field in fields(self):
            yield from getattr(self, field.name)

    # cached_property writes the instance __dict__ directly, so it works on a frozen dataclass
    # and is built once, on first use, by whichever reader needs it.
    @cached_property
    def _indexes(self) -> dict[type[Resource], dict[tuple[str, str], Resource]]:
        """Per kind, objects by (namespace, name); each kind's index is built when first
        asked for (translation looks up a few kinds among thousands of routes)."""
        return {}

    @cached_property
    def _slices_by_service(self) -> dict[tuple[str, str], tuple[EndpointSlice, ...]]:
        grouped: dict[tuple[str, str], list[EndpointSlice]] = {}
        for endpoint_slice in self.endpoint_slices:
            service = endpoint_slice.service_name
            if service:
                key = (endpoint_slice.metadata.namespace, service)
                grouped.setdefault(key, []).append(endpoint_slice)
        return {key: tuple(slices) for key, slices in grouped.items()}
