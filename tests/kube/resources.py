"""The resources the emulated API server serves: what discovery lists and what can be stored.

The table mirrors a cluster with the Gateway API v1.6.1 experimental-channel CRDs, the
agentgateway.dev CRDs and the built-in kinds the control plane and its proxy deployer touch.
Versions of one resource share storage (as in a real server); the first version listed is the
group's preferred one."""

from __future__ import annotations

from dataclasses import dataclass

GATEWAY = "gateway.networking.k8s.io"
GATEWAY_X = "gateway.networking.x-k8s.io"
AGENTGATEWAY = "agentgateway.dev"


@dataclass(frozen=True)
class ResourceType:
    group: str
    versions: tuple[str, ...]
    plural: str
    kind: str
    namespaced: bool = True
    # Objects with a status subresource: writes to the main resource ignore status and
    # writes to /status change nothing else.
    status: bool = True
    # Only created and answered (TokenReview), never stored.
    virtual: bool = False

    @property
    def key(self) -> tuple[str, str]:
        """Versions of a resource share storage, so (group, plural) identifies it."""
        return (self.group, self.plural)

    @property
    def name(self) -> str:
        """As RBAC and error messages spell it: "httproutes.gateway.networking.k8s.io"."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def api_version(self, version: str) -> str:
        return f"{self.group}/{version}" if self.group else version


def _gateway_api() -> list[ResourceType]:
    return [
        ResourceType(GATEWAY, ("v1", "v1beta1"), "gatewayclasses", "GatewayClass", False),
        ResourceType(GATEWAY, ("v1", "v1beta1"), "gateways", "Gateway"),
        ResourceType(GATEWAY, ("v1", "v1beta1"), "httproutes", "HTTPRoute"),
        ResourceType(GATEWAY, ("v1",), "grpcroutes", "GRPCRoute"),
        ResourceType(GATEWAY, ("v1", "v1alpha3", "v1alpha2"), "tlsroutes", "TLSRoute"),
        ResourceType(GATEWAY, ("v1alpha2",), "tcproutes", "TCPRoute"),
        ResourceType(GATEWAY, ("v1alpha2",), "udproutes", "UDPRoute"),
        ResourceType(GATEWAY, ("v1", "v1beta1"), "referencegrants", "ReferenceGrant", status=False),
        ResourceType(GATEWAY, ("v1", "v1alpha3"), "backendtlspolicies", "BackendTLSPolicy"),
        ResourceType(GATEWAY, ("v1",), "listenersets", "ListenerSet"),
        ResourceType(GATEWAY_X, ("v1alpha1",), "xlistenersets", "XListenerSet"),
        ResourceType(GATEWAY_X, ("v1alpha1",), "xbackendtrafficpolicies", "XBackendTrafficPolicy"),
    ]


def _agentgateway() -> list[ResourceType]:
    kinds = ("AgentgatewayParameters", "AgentgatewayPolicy", "AgentgatewayBackend")
    plurals = ("agentgatewayparameters", "agentgatewaypolicies", "agentgatewaybackends")
    return [
        ResourceType(AGENTGATEWAY, ("v1alpha1",), plural, kind)
        for plural, kind in zip(plurals, kinds, strict=True)
    ]


def _built_in() -> list[ResourceType]:
    return [
        ResourceType("", ("v1",), "namespaces", "Namespace", False),
        ResourceType("", ("v1",), "services", "Service"),
        ResourceType("", ("v1",), "secrets", "Secret", status=False),
        ResourceType("", ("v1",), "configmaps", "ConfigMap", status=False),
        ResourceType("", ("v1",), "serviceaccounts", "ServiceAccount", status=False),
        ResourceType("", ("v1",), "pods", "Pod"),
        ResourceType("discovery.k8s.io", ("v1",), "endpointslices", "EndpointSlice", status=False),
        ResourceType("coordination.k8s.io", ("v1",), "leases", "Lease", status=False),
        ResourceType("apps", ("v1",), "deployments", "Deployment"),
        ResourceType("autoscaling", ("v2",), "horizontalpodautoscalers", "HorizontalPodAutoscaler"),
        ResourceType("policy", ("v1",), "poddisruptionbudgets", "PodDisruptionBudget"),
        ResourceType(
            "authentication.k8s.io", ("v1",), "tokenreviews", "TokenReview", False, False, True
        ),
    ]


def standard_resources() -> list[ResourceType]:
    """Everything: Gateway API v1.6 (experimental channel), agentgateway.dev, built-ins."""
    return _gateway_api() + _agentgateway() + _built_in()


def without(resources: list[ResourceType], *kinds: str) -> list[ResourceType]:
    """The same cluster with the CRDs of these kinds not installed."""
    return [resource for resource in resources if resource.kind not in kinds]
