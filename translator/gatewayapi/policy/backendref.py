"""Services an AgentgatewayPolicy names as a backendRef (a rate limit service, a key set's
server, a trace collector): resolved like a route's backendRefs, with ReferenceGrants from the
policy's namespace, each becoming a cluster the Gateway must carry. One that cannot be used
leaves its limit, provider or tracing out, and ``note_unresolved_services`` says so in the
policy's status."""

from __future__ import annotations

import json
from typing import Any

from translator import ir
from translator.gatewayapi.backend import BackendProblem, Backends, ResolvedBackend
from translator.gatewayapi.policy.targets import PreparedPolicy
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
        resolved = self._lookup(origin, ref, protocol)
        if isinstance(resolved, BackendProblem) or resolved.blocked:
            return None
        self.clusters[resolved.cluster.name] = resolved.cluster
        return resolved.cluster

    def problem(self, origin: str, ref: dict[str, Any]) -> str | None:
        """Why ``ref`` cannot be used, for a status; None when it can."""
        resolved = self._lookup(origin, ref, None)
        if isinstance(resolved, BackendProblem):
            return resolved.message
        if resolved.blocked:
            return f"the BackendTLSPolicy of Service {ref['name']} gives no valid trust"
        return None

    def _lookup(
        self, origin: str, ref: dict[str, Any], protocol: ir.UpstreamProtocol | None
    ) -> ResolvedBackend | BackendProblem:
        if self._backends is None:
            grants = ReferenceGrants(self.resources.reference_grants)
            self._backends = Backends(self.resources, grants)
        source = ReferenceFrom(AGENTGATEWAY_GROUP, _POLICY_KIND, origin.split("/")[1])
        return self._backends.resolve(source, BackendObjectReference.model_validate(ref), protocol)

    def with_clusters(self, gateway: ir.GatewayIR) -> tuple[ir.Cluster, ...]:
        """``gateway``'s clusters and the resolved ones it lacks."""
        known = {cluster.name for cluster in gateway.clusters}
        added = tuple(c for name, c in sorted(self.clusters.items()) if name not in known)
        return gateway.clusters + added


def note_unresolved_services(prepared: PreparedPolicy, resources: ResourceSet) -> None:
    """A note per rate limit service, key server or trace collector of ``prepared`` that
    cannot be used."""
    traffic = prepared.settings.get("traffic", {})
    origin = f"{_POLICY_KIND}/{prepared.policy.metadata.namespace}/{prepared.policy.metadata.name}"
    refs = PolicyBackendRefs(resources)
    if "rateLimit" in traffic:
        limit = json.loads(traffic["rateLimit"]).get("global")
        if limit is not None and refs.resolve(origin, limit["backendRef"]) is None:
            prepared.notes.append(
                "traffic.rateLimit.global.backendRef: the rate limit service cannot be used "
                f"({_problem(refs, origin, limit['backendRef'])}); the global limit is not applied"
            )
    if "jwtAuthentication" in traffic:
        providers = json.loads(traffic["jwtAuthentication"]).get("providers", ())
        for index, provider in enumerate(providers):
            remote = provider.get("jwks", {}).get("remote")
            if remote is not None and refs.resolve(origin, remote["backendRef"]) is None:
                prepared.notes.append(
                    f"traffic.jwtAuthentication.providers[{index}].jwks.remote.backendRef: the "
                    f"key server cannot be used ({_problem(refs, origin, remote['backendRef'])}); "
                    "tokens of this provider are refused"
                )
    tracing = prepared.settings.get("frontend", {}).get("tracing")
    if tracing is not None:
        ref = json.loads(tracing)["backendRef"]
        if refs.resolve(origin, ref) is None:
            prepared.notes.append(
                "frontend.tracing.backendRef: the collector cannot be used "
                f"({_problem(refs, origin, ref)}); requests are not traced"
            )


def _problem(refs: PolicyBackendRefs, origin: str, ref: dict[str, Any]) -> str:
    return refs.problem(origin, ref) or "unusable"
