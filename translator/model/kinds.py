"""Which model reads which Kubernetes kind, and at which API versions.

Every Gateway API kind loads from each version a v1.6 cluster may still serve; the
experimental gateway.networking.x-k8s.io ListenerSet (and its XListenerSet name) loads
into ListenerSet. Core kinds are v1 only; agentgateway.dev kinds are v1alpha1.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from translator.model.agentgateway import AGENTGATEWAY_GROUP, AgentgatewayParameters
from translator.model.agentgateway_policy import AgentgatewayPolicy
from translator.model.backendtlspolicy import BackendTLSPolicy
from translator.model.backendtrafficpolicy import XBackendTrafficPolicy
from translator.model.core import ConfigMap, EndpointSlice, Namespace, Secret, Service
from translator.model.gateway import Gateway, GatewayClass
from translator.model.grpcroute import GRPCRoute
from translator.model.httproute import HTTPRoute
from translator.model.l4route import TCPRoute, TLSRoute, UDPRoute
from translator.model.listenerset import EXPERIMENTAL_GROUP, ListenerSet
from translator.model.meta import Resource
from translator.model.referencegrant import ReferenceGrant
from translator.model.shared import GATEWAY_GROUP

# Every top-level kind, in the order a ResourceSet lists them.
RESOURCE_KINDS: tuple[type[Resource], ...] = (
    GatewayClass,
    Gateway,
    HTTPRoute,
    GRPCRoute,
    TLSRoute,
    TCPRoute,
    UDPRoute,
    ReferenceGrant,
    BackendTLSPolicy,
    XBackendTrafficPolicy,
    ListenerSet,
    AgentgatewayParameters,
    AgentgatewayPolicy,
    Namespace,
    Service,
    EndpointSlice,
    Secret,
    ConfigMap,
)

_GATEWAY_VERSIONS = frozenset({"v1", "v1beta1", "v1alpha2", "v1alpha3"})
_EXPERIMENTAL_VERSIONS = frozenset({"v1alpha1"})
_VERSIONS_OF_GROUP = {
    GATEWAY_GROUP: _GATEWAY_VERSIONS,
    AGENTGATEWAY_GROUP: frozenset({"v1alpha1"}),
    EXPERIMENTAL_GROUP: _EXPERIMENTAL_VERSIONS,
}

# (group, kind) -> (model, versions served).
SERVED_KINDS: Mapping[tuple[str, str], tuple[type[Resource], frozenset[str]]] = MappingProxyType(
    {
        **{
            (kind.GROUP, kind.KIND): (kind, _VERSIONS_OF_GROUP.get(kind.GROUP, frozenset({"v1"})))
            for kind in RESOURCE_KINDS
        },
        (EXPERIMENTAL_GROUP, "ListenerSet"): (ListenerSet, _EXPERIMENTAL_VERSIONS),
        (EXPERIMENTAL_GROUP, "XListenerSet"): (ListenerSet, _EXPERIMENTAL_VERSIONS),
    }
)


def served_model(api_version: object, kind: object) -> type[Resource] | None:
    """The model for this apiVersion and kind, or None when agw does not read it."""
    if not isinstance(api_version, str) or not isinstance(kind, str):
        return None
    group, _, version = api_version.rpartition("/")
    entry = SERVED_KINDS.get((group, kind))
    if entry is None or version not in entry[1]:
        return None
    return entry[0]
