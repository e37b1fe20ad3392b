"""Resolving parametersRef: a GatewayClass's and a Gateway's ``infrastructure.parametersRef``
to the AgentgatewayParameters they name, merged (the Gateway's fields win).

The Gateway API asks that a reference that cannot be found, or that names an unsupported kind,
reject the object with ``Accepted=False`` and reason ``InvalidParameters``; the problem
messages here say which field is wrong and why. The deployer resolves parameters with the same
functions, so what is provisioned is what the status describes.
"""

from __future__ import annotations

from dataclasses import dataclass

from translator.model import AgentgatewayParameters, AgentgatewayParametersSpec, Gateway
from translator.model.agentgateway import AGENTGATEWAY_GROUP, merge_parameters
from translator.model.gateway import GatewayClass
from translator.resources import ResourceSet

_KIND = AgentgatewayParameters.KIND


@dataclass(frozen=True)
class ResolvedParameters:
    """The merged parameters, or ``problem`` (and ``spec`` None) when a reference is invalid."""

    spec: AgentgatewayParametersSpec | None
    problem: str = ""

    @property
    def is_valid(self) -> bool:
        return self.spec is not None


_NONE = ResolvedParameters(AgentgatewayParametersSpec())


def resolve_class_parameters(
    resources: ResourceSet, gateway_class: GatewayClass
) -> ResolvedParameters:
    ref = gateway_class.spec.parameters_ref
    if ref is None:
        return _NONE
    field = "spec.parametersRef"
    problem = _unsupported_kind(field, ref.group, ref.kind)
    if problem:
        return ResolvedParameters(None, problem)
    if not ref.namespace:
        return ResolvedParameters(
            None, f"{field}.namespace is required: {_KIND} is a namespaced kind"
        )
    return _lookup(resources, field, ref.namespace, ref.name)


def resolve_gateway_parameters(
    resources: ResourceSet, gateway_class: GatewayClass, gateway: Gateway
) -> ResolvedParameters:
    """The class's parameters overlaid with the Gateway's own; a problem in either wins."""
    from_class = resolve_class_parameters(resources, gateway_class)
    infrastructure = gateway.spec.infrastructure
    ref = infrastructure.parameters_ref if infrastructure is not None else None
    if from_class.spec is None or ref is None:
        return from_class
    field = "spec.infrastructure.parametersRef"
    problem = _unsupported_kind(field, ref.group, ref.kind)
    if problem:
        return ResolvedParameters(None, problem)
    own = _lookup(resources, field, gateway.metadata.namespace, ref.name)
    if own.spec is None:
        return own
    return ResolvedParameters(merge_parameters(from_class.spec, own.spec))


def _unsupported_kind(field: str, group: str, kind: str) -> str:
    if (group, kind) == (AGENTGATEWAY_GROUP, _KIND):
        return ""
    shown = f"{group}/{kind}" if group else kind
    return f"{field}: {shown} is not supported; use {AGENTGATEWAY_GROUP}/{_KIND}"


def _lookup(resources: ResourceSet, field: str, namespace: str, name: str) -> ResolvedParameters:
    found = resources.get(AgentgatewayParameters, namespace, name)
    if found is None:
        return ResolvedParameters(
            None, f"{field}: {_KIND} {namespace}/{name} not found (or not valid)"
        )
    return ResolvedParameters(found.spec)
