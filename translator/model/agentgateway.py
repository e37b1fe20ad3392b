"""AgentgatewayParameters (agentgateway.dev/v1alpha1): how agw provisions a Gateway's proxies.

A GatewayClass ``spec.parametersRef`` and a Gateway ``spec.infrastructure.parametersRef`` name
one of these; the Gateway's fields override the class's. Every field is optional: what neither
sets comes from the control plane's proxy defaults (the Helm chart's values).

This model is the only definition of the kind: ``tools/gen_crds.py`` derives the CRD's
OpenAPI schema from it, field docstrings become the schema's descriptions, and each CEL rule
below is enforced here too, so a file-mode object and a cluster object validate alike.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any, ClassVar

from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
    model_validator,
)

from translator.model.meta import Model, Resource, violation
from translator.model.shared import AnnotationKey, AnnotationValue, LabelKey, LabelValue

AGENTGATEWAY_GROUP = "agentgateway.dev"

# Kubernetes resource.Quantity, as controller-gen writes it into CRDs.
QUANTITY_PATTERN = (
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|"
    r"([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)
_QUANTITY = re.compile(QUANTITY_PATTERN)
_PERCENT = re.compile(r"^[0-9]+%$")


def _quantity(value: int | str) -> int | str:
    if isinstance(value, str) and not _QUANTITY.fullmatch(value):
        raise violation(f"{value!r} is not a Kubernetes quantity (e.g. 500m, 128Mi, 2)")
    return value


def _count_or_percent(value: int | str) -> int | str:
    if isinstance(value, int) and value < 0:
        raise violation("must not be negative")
    if isinstance(value, str) and not _PERCENT.fullmatch(value):
        raise violation(f"{value!r} is neither a number nor a percentage such as '50%'")
    return value


_INT_OR_STRING: dict[str, Any] = {
    "anyOf": [{"type": "integer"}, {"type": "string"}],
    "x-kubernetes-int-or-string": True,
}
Quantity = Annotated[
    int | str,
    AfterValidator(_quantity),
    WithJsonSchema({**_INT_OR_STRING, "pattern": QUANTITY_PATTERN}),
]
CountOrPercent = Annotated[
    int | str, AfterValidator(_count_or_percent), WithJsonSchema(_INT_OR_STRING)
]
ResourceName = Annotated[str, StringConstraints(min_length=1, max_length=253)]
ImageReference = Annotated[str, StringConstraints(min_length=1, max_length=1024, pattern=r"^\S+$")]


class _Documented(Model):
    # Field docstrings are the CRD's descriptions (kubectl explain shows them).
    model_config = ConfigDict(use_attribute_docstrings=True)


class ImagePullPolicy(StrEnum):
    ALWAYS = "Always"
    IF_NOT_PRESENT = "IfNotPresent"
    NEVER = "Never"


class ServiceType(StrEnum):
    CLUSTER_IP = "ClusterIP"
    NODE_PORT = "NodePort"
    LOAD_BALANCER = "LoadBalancer"


class ResourceRequirements(_Documented):
    requests: dict[ResourceName, Quantity] = Field(default_factory=dict)
    """Minimum compute resources per proxy pod, e.g. {cpu: 500m, memory: 256Mi}."""
    limits: dict[ResourceName, Quantity] = Field(default_factory=dict)
    """Maximum compute resources per proxy pod."""


class Autoscaling(_Documented):
    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "!has(self.minReplicas) || self.minReplicas <= self.maxReplicas",
                    "message": "minReplicas must not exceed maxReplicas",
                }
            ]
        }
    )

    min_replicas: Annotated[int, Field(ge=1, le=1000)] = 1
    """Fewest proxy replicas the HorizontalPodAutoscaler keeps."""
    max_replicas: Annotated[int, Field(ge=1, le=1000)]
    """Most proxy replicas the HorizontalPodAutoscaler may run."""
    target_cpu_utilization_percentage: Annotated[
        int, Field(ge=1, le=1000, alias="targetCPUUtilizationPercentage")
    ] = 80
    """Average CPU use, in percent of the CPU request, the autoscaler aims for."""

    @model_validator(mode="after")
    def _bounds_ordered(self) -> Autoscaling:
        if self.min_replicas > self.max_replicas:
            raise violation("minReplicas must not exceed maxReplicas")
        return self


class PodDisruptionBudget(_Documented):
    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "has(self.minAvailable) != has(self.maxUnavailable)",
                    "message": "set exactly one of minAvailable and maxUnavailable",
                }
            ]
        }
    )

    min_available: CountOrPercent | None = None
    """Proxy pods (or a percentage) that must stay up during voluntary disruptions."""
    max_unavailable: CountOrPercent | None = None
    """Proxy pods (or a percentage) that may be down during voluntary disruptions."""

    @model_validator(mode="after")
    def _exactly_one(self) -> PodDisruptionBudget:
        if (self.min_available is None) == (self.max_unavailable is None):
            raise violation("set exactly one of minAvailable and maxUnavailable")
        return self


class ServiceParameters(_Documented):
    type: ServiceType | None = None
    """How the Gateway's Service is exposed; LoadBalancer unless set."""
    load_balancer_class: Annotated[str, StringConstraints(min_length=1, max_length=253)] | None = (
        None
    )
    """The Service's spec.loadBalancerClass, for clusters with several load-balancer
    implementations."""


class AgentgatewayParametersSpec(_Documented):
    image: ImageReference | None = None
    """The agw image the proxies run (the same image as the control plane unless set)."""
    image_pull_policy: ImagePullPolicy | None = None
    """When the kubelet pulls the image."""
    replicas: Annotated[int, Field(ge=0, le=1000)] | None = None
    """Proxy replicas; ignored while autoscaling is set."""
    workers: Annotated[int, Field(ge=1, le=256)] | None = None
    """Worker processes per proxy pod (agw proxy --workers)."""
    resources: ResourceRequirements | None = None
    """Compute resources of the proxy container."""
    autoscaling: Autoscaling | None = None
    """Run a HorizontalPodAutoscaler on CPU instead of a fixed replica count."""
    pod_disruption_budget: PodDisruptionBudget | None = None
    """Create a PodDisruptionBudget for the proxies."""
    service: ServiceParameters | None = None
    """The Service in front of the proxies."""
    termination_grace_period_seconds: Annotated[int, Field(ge=1, le=3600)] | None = None
    """How long a stopping proxy may drain in-flight requests before it is killed."""
    labels: dict[LabelKey, LabelValue] = Field(default_factory=dict, max_length=64)
    """Extra labels on every object agw provisions for the Gateway (and on its pods)."""
    annotations: dict[AnnotationKey, AnnotationValue] = Field(default_factory=dict, max_length=64)
    """Extra annotations on every object agw provisions for the Gateway (and on its pods)."""


class AgentgatewayParameters(Resource):
    """How agw provisions the proxies of the Gateways that refer to it (image, replicas,
    resources, autoscaling, disruption budget, Service type, extra labels and annotations)."""

    GROUP: ClassVar[str] = AGENTGATEWAY_GROUP
    KIND: ClassVar[str] = "AgentgatewayParameters"

    spec: AgentgatewayParametersSpec = AgentgatewayParametersSpec()


def merge_parameters(
    base: AgentgatewayParametersSpec, override: AgentgatewayParametersSpec
) -> AgentgatewayParametersSpec:
    """``override``'s fields where it sets them, else ``base``'s; labels and annotations merge
    key by key (``override`` wins on a shared key)."""
    merged: dict[str, Any] = {
        name: getattr(override if name in override.model_fields_set else base, name)
        for name in AgentgatewayParametersSpec.model_fields
    }
    merged["labels"] = {**base.labels, **override.labels}
    merged["annotations"] = {**base.annotations, **override.annotations}
    fields_set = base.model_fields_set | override.model_fields_set
    return AgentgatewayParametersSpec.model_construct(fields_set, **merged)
