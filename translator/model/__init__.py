"""Input models: Gateway API v1.6 (experimental channel), agentgateway.dev parameters and the
core kinds a gateway reads.

Frozen pydantic v2 models; Python attributes are snake_case, JSON keys camelCase. CRD
defaults and validation rules live in the models, so the file source and the Kubernetes
source produce the same objects.
"""

from translator.model.agentgateway import AgentgatewayParameters, AgentgatewayParametersSpec
from translator.model.agentgateway_policy import AgentgatewayPolicy
from translator.model.backendtlspolicy import BackendTLSPolicy
from translator.model.backendtrafficpolicy import XBackendTrafficPolicy
from translator.model.core import ConfigMap, EndpointSlice, Namespace, Secret, Service
from translator.model.duration import parse_duration
from translator.model.gateway import Gateway, GatewayClass
from translator.model.grpcroute import GRPCRoute
from translator.model.httproute import HTTPRoute
from translator.model.kinds import RESOURCE_KINDS, SERVED_KINDS, served_model
from translator.model.l4route import TCPRoute, TLSRoute, UDPRoute
from translator.model.listenerset import ListenerSet
from translator.model.meta import ObjectKey, ObjectMeta, Resource
from translator.model.referencegrant import ReferenceGrant

__all__ = [
    "RESOURCE_KINDS",
    "SERVED_KINDS",
    "AgentgatewayParameters",
    "AgentgatewayParametersSpec",
    "AgentgatewayPolicy",
    "BackendTLSPolicy",
    "ConfigMap",
    "EndpointSlice",
    "GRPCRoute",
    "Gateway",
    "GatewayClass",
    "HTTPRoute",
    "ListenerSet",
    "Namespace",
    "ObjectKey",
    "ObjectMeta",
    "ReferenceGrant",
    "Resource",
    "Secret",
    "Service",
    "TCPRoute",
    "TLSRoute",
    "UDPRoute",
    "XBackendTrafficPolicy",
    "parse_duration",
    "served_model",
]
