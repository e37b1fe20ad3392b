"""Backend references to Services: validity, ReferenceGrants, clusters and endpoints."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from translator import naming
from translator.gatewayapi.backendtls import BackendTlsPolicies
from translator.gatewayapi.backendtraffic import BackendTrafficPolicies
from translator.gatewayapi.conditions import Reason
from translator.gatewayapi.referencegrant import ReferenceFrom, ReferenceGrants, ReferenceTo
from translator.ir import CaBundle, Cluster, Endpoint, SessionPersistence, UpstreamProtocol
from translator.model import Service
from translator.resources import ResourceSet

H2C_APP_PROTOCOL = "kubernetes.io/h2c"
WEBSOCKET_APP_PROTOCOL = "kubernetes.io/ws"


@dataclass(frozen=True, slots=True)
class BackendProblem:
    reason: Reason
    message: str


@dataclass(frozen=True, slots=True)
class ResolvedBackend:
    cluster: Cluster
    websocket: bool
    # A BackendTLSPolicy governs the port but gives no valid trust: never send plaintext,
    # answer this backend's share as if it were invalid (its route's refs are fine).
    blocked: bool = False
    # Session persistence an XBackendTrafficPolicy asks for on the Service (GEP-1619).
    session: SessionPersistence | None = None


# A resolve() call's arguments, or a cluster register() was given.
BackendEffect = tuple[ReferenceFrom, Any, UpstreamProtocol | None] | Cluster


class Backends:
    """Resolves backendRefs and remembers every cluster it made, and every CA bundle those
    clusters trust, by name."""

    def __init__(self, resources: ResourceSet, grants: ReferenceGrants) -> None:
        self._resources = resources
        self._grants = grants
        self.policies = BackendTlsPolicies(resources)
        self.traffic_policies = BackendTrafficPolicies(resources)
        self.clusters: dict[str, Cluster] = {}
        self.ca_bundles: dict[str, CaBundle] = {}
        # Thousands of routes name a few hundred Service ports: resolve each once.
        self._resolved: dict[tuple[Any, ...], ResolvedBackend | BackendProblem] = {}
        # While a list, every resolve() and register() call is appended to it: incremental
        # translation replays a memoised route's effects, since both register clusters.
        self.trace: list[BackendEffect] | None = None

    def resolve(
        self, source: ReferenceFrom, ref: Any, protocol: UpstreamProtocol | None = None
    ) -> ResolvedBackend | BackendProblem:
        """``protocol`` overrides the one the Service port's appProtocol implies."""
        if self.trace is not None:
            self.trace.append((source, ref, protocol))
        key = (source, ref.group, ref.kind, ref.namespace, ref.name, ref.port, protocol)
        found = self._resolved.get(key)
        if found is None:
            found = self._resolved[key] = self._resolve(source, ref, protocol)
        return found

    def register(self, cluster: Cluster) -> None:
        """A cluster a route made of others (a session's merged backends), by its name."""
        if self.trace is not None:
            self.trace.append(cluster)
        self.clusters[cluster.name] = cluster

    def replay(self, effects: Iterable[BackendEffect]) -> None:
        """Do again what a traced translation did: its resolves and registrations."""
        for effect in effects:
            if isinstance(effect, Cluster):
                self.register(effect)
            else:
                self.resolve(*effect)

    def _resolve(
        self, source: ReferenceFrom, ref: Any, protocol: UpstreamProtocol | None
    ) -> ResolvedBackend | BackendProblem:
        group = ref.group or ""
        kind = ref.kind or "Service"
        namespace = ref.namespace or source.namespace
        where = f"{namespace}/{ref.name}"
        if group != "" or kind != "Service":
            return BackendProblem(
                Reason.INVALID_KIND,
                f"backendRef {where}: kind {group or 'core'}/{kind} is not supported",
            )
        if not self._grants.permits(source, ReferenceTo("", "Service", namespace, ref.name)):
            return BackendProblem(
                Reason.REF_NOT_PERMITTED,
                f"backendRef to Service {where} is not permitted by any ReferenceGrant",
            )
        service = self._resources.get(Service, namespace, ref.name)
        if service is None:
            return BackendProblem(Reason.BACKEND_NOT_FOUND, f"Service {where} does not exist")
        if ref.port is None:
            return BackendProblem(
                Reason.BACKEND_NOT_FOUND, f"backendRef to Service {where} needs a port"
            )
        service_port = _find_port(service, ref.port)
        if service_port is None:
            return BackendProblem(
                Reason.BACKEND_NOT_FOUND, f"Service {where} has no port {ref.port}"
            )
        policy = self.policies.for_port(namespace, ref.name, service_port.name or "")
        cluster = self._cluster(service, service_port, protocol)
        if policy is not None:
            if policy.ca_bundle is not None:
                self.ca_bundles[policy.ca_bundle.name] = policy.ca_bundle
            if policy.tls is not None and cluster.tls != policy.tls:
                cluster = dataclasses.replace(cluster, tls=policy.tls)
                self.clusters[cluster.name] = cluster
        traffic = self.traffic_policies.for_service(namespace, ref.name)
        if traffic is not None and cluster.retry_budget != traffic.budget:
            cluster = dataclasses.replace(cluster, retry_budget=traffic.budget)
            self.clusters[cluster.name] = cluster
        return ResolvedBackend(
            cluster=cluster,
            websocket=service_port.app_protocol == WEBSOCKET_APP_PROTOCOL,
            blocked=policy is not None and policy.tls is None,
            session=traffic.session if traffic is not None else None,
        )

    def _cluster(
        self, service: Service, service_port: Any, forced: UpstreamProtocol | None
    ) -> Cluster:
        meta = service.metadata
        native = (
            UpstreamProtocol.H2C
            if service_port.app_protocol == H2C_APP_PROTOCOL
            else UpstreamProtocol.HTTP1
        )
        protocol = forced or native
        variant = "" if protocol is native else protocol.value.replace("/", "").lower()
        name = naming.service_cluster(meta.namespace, meta.name, service_port.port, variant)
        cluster = self.clusters.get(name)
        if cluster is None:
            cluster = Cluster(
                name=name,
                endpoints=self._endpoints(service, service_port),
                protocol=protocol,
                origin=f"Service/{meta.namespace}/{meta.name}:{service_port.port}",
            )
            self.clusters[name] = cluster
        return cluster

    def _endpoints(self, service: Service, service_port: Any) -> tuple[Endpoint, ...]:
        """Ready endpoints of the Service's EndpointSlices, on the slice port named like the
        Service port (Kubernetes resolves targetPort into the slices for us)."""
        port_name = service_port.name or ""
        found: dict[tuple[str, int], Endpoint] = {}
        for endpoint_slice in self._resources.endpoint_slices_for(
            service.metadata.namespace, service.metadata.name
        ):
            slice_port = next(
                (p for p in endpoint_slice.ports or () if (p.name or "") == port_name), None
            )
            if slice_port is None or slice_port.port is None:
                continue
            for endpoint in endpoint_slice.endpoints or ():
                conditions = endpoint.conditions
                if conditions is not None and conditions.ready is False:
                    continue
                for address in endpoint.addresses:
                    found.setdefault((address, slice_port.port), Endpoint(address, slice_port.port))
        return tuple(found[key] for key in sorted(found))


def _find_port(service: Service, port: int) -> Any:
    return next((p for p in service.spec.ports or () if p.port == port), None)
