"""Services an AgentgatewayPolicy names as a backendRef (a rate limit service, a key set's
server): resolved like a route's backendRefs, with ReferenceGrants from the policy's
namespace, each becoming a cluster the Gateway must carry."""

from __future__ import annotations

from typing import Any

from translator import ir
from translator.gatewayapi.backend import BackendProblem, Backends
from translator.gatewayapi.referencegrant import ReferenceFrom, ReferenceGrants
from translator.model.agentgateway import AGENTGATEWAY_GROUP
from translator.model.shared import BackendObjectReference
from translator.resources import ResourceSet

_POLICY_KIND = "AgentgatewayPolicy"


class PolicyBackendRefs:
    def __init__(self, resources: ResourceSet) -> None:
        self.resources = resources
        self._backends: Backends | None = None
        # Every cluster resolved, by name.
        self.clusters: dict[str, ir.Cluster] = {}

    def resolve(
        self, origin: str, ref: dict[str, Any], protocol: ir.UpstreamProtocol | None = None
    ) -> ir.Cluster | None:
        """The cluster for ``ref`` (JSON, as in the policy) of the policy ``origin``
        ("AgentgatewayPolicy/ns/name"); None when it cannot be used (missing, not permitted,
        or a BackendTLSPolicy that gives no trust)."""
        if self._backends is None:
            grants = ReferenceGrants(self.resources.reference_grants)
            self._backends = Backends(self.resources, grants)
        source = ReferenceFrom(AGENTGATEWAY_GROUP, _POLICY_KIND, origin.split("/")[1])
        model = BackendObjectReference.model_validate(ref)
        resolved = self._backends.resolve(source, model, protocol)
        if isinstance(resolved, BackendProblem) or resolved.blocked:
            return None
        self.clusters[resolved.cluster.name] = resolved.cluster
        return resolved.cluster

    def with_clusters(self, gateway: ir.GatewayIR) -> tuple[ir.Cluster, ...]:
        """``gateway``'s clusters and the resolved ones it lacks."""
        known = {cluster.name for cluster in gateway.clusters}
        added = tuple(c for name, c in sorted(self.clusters.items()) if name not in known)
        return gateway.clusters + added
