"""The objects a Gateway's proxies need, as a pure function of the Gateway, its class, its
resolved AgentgatewayParameters and the control plane's settings.

``render_gateway`` returns, in the order they are applied: a ServiceAccount (the proxies'
identity for xDS), a ConfigMap with the xDS CA (when xDS uses TLS), a Service exposing the
listener ports, the Gateway's own and those of its accepted ListenerSets (LoadBalancer
unless the parameters say otherwise), the Deployment, and
optionally a HorizontalPodAutoscaler and a PodDisruptionBudget. Every object is owned by the
Gateway (garbage-collected with it) and carries ``spec.infrastructure`` labels and
annotations, then the parameters' own, then agw's labels, which nothing may override since
the proxies are selected by them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from controlplane.deployer import names
from controlplane.deployer.listenersets import Port, transport
from controlplane.deployer.settings import ProvisionSettings
from controlplane.deployer.workload import CA_FILE, Manifest, pod_spec
from translator.model import AgentgatewayParametersSpec, Gateway, GatewayClass


def render_gateway(
    gateway: Gateway,
    gateway_class: GatewayClass,
    parameters: AgentgatewayParametersSpec,
    settings: ProvisionSettings,
    listener_set_ports: Iterable[Port] = (),
) -> tuple[Manifest, ...]:
    """``listener_set_ports``: those of the ListenerSet listeners the Gateway accepted."""
    name = names.provisioned_name(gateway.metadata.name)
    meta = _Metadata(gateway, gateway_class, parameters, settings, name)
    ports = listener_ports(gateway, listener_set_ports)
    objects: list[Manifest] = [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": meta.render(),
            "automountServiceAccountToken": False,
        }
    ]
    if settings.secure_xds:
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": meta.render(),
                "data": {CA_FILE: settings.xds_ca_certificate},
            }
        )
    objects.append(_service(meta, ports, parameters, settings))
    objects.append(_deployment(gateway, meta, ports, parameters, settings))
    if parameters.autoscaling is not None:
        objects.append(_autoscaler(meta, parameters))
    if parameters.pod_disruption_budget is not None:
        objects.append(_disruption_budget(gateway, meta, parameters))
    return tuple(objects)


def listener_ports(gateway: Gateway, extra: Iterable[Port] = ()) -> list[Port]:
    """(port, TCP or UDP) of every listener, and of ``extra``, once each, in port order."""
    found = {(listener.port, transport(listener.protocol)) for listener in gateway.spec.listeners}
    return sorted(found.union(extra))


class _Metadata:
    def __init__(
        self,
        gateway: Gateway,
        gateway_class: GatewayClass,
        parameters: AgentgatewayParametersSpec,
        settings: ProvisionSettings,
        name: str,
    ) -> None:
        infrastructure = gateway.spec.infrastructure
        self.name = name
        self.namespace = gateway.metadata.namespace
        self.labels: dict[str, str] = {
            **parameters.labels,
            **(infrastructure.labels if infrastructure else {}),
            **names.selector_labels(gateway),
            names.INSTANCE_LABEL: name,
            names.MANAGED_BY_LABEL: names.MANAGED_BY,
            names.CONTROLLER_LABEL: names.label_value(settings.controller_name),
            names.GATEWAY_CLASS_LABEL: names.label_value(gateway_class.metadata.name),
        }
        self.annotations: dict[str, str] = {
            **parameters.annotations,
            **(infrastructure.annotations if infrastructure else {}),
        }
        owner = gateway.metadata
        # Without a uid (file mode, tests) no owner reference can be written.
        self.owners = (
            [
                {
                    "apiVersion": gateway.api_version,
                    "kind": gateway.kind,
                    "name": owner.name,
                    "uid": owner.uid,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ]
            if owner.uid
            else []
        )
        self.gateway_key = f"{owner.namespace}/{owner.name}"

    def render(self) -> Manifest:
        annotations = {**self.annotations, names.GATEWAY_ANNOTATION: self.gateway_key}
        if self.annotations:
            annotations[names.APPLIED_ANNOTATIONS] = ",".join(sorted(self.annotations))
        rendered: Manifest = {
            "name": self.name,
            "namespace": self.namespace,
            "labels": dict(self.labels),
            "annotations": annotations,
        }
        if self.owners:
            rendered["ownerReferences"] = [dict(owner) for owner in self.owners]
        return rendered

    def pod_template(self) -> Manifest:
        return {"labels": dict(self.labels), "annotations": dict(self.annotations)}


def _service(
    meta: _Metadata,
    ports: list[tuple[int, str]],
    parameters: AgentgatewayParametersSpec,
    settings: ProvisionSettings,
) -> Manifest:
    service = parameters.service
    kind = (service.type if service and service.type else None) or settings.proxy.service_type
    spec: dict[str, Any] = {
        "type": str(kind),
        "selector": {key: meta.labels[key] for key in _SELECTOR_KEYS},
        "ports": [
            {
                "name": f"{protocol.lower()}-{port}",
                "port": port,
                "targetPort": port,
                "protocol": protocol,
            }
            for port, protocol in ports
        ],
    }
    if service is not None and service.load_balancer_class and str(kind) == "LoadBalancer":
        spec["loadBalancerClass"] = service.load_balancer_class
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta.render(), "spec": spec}


_SELECTOR_KEYS = (names.APP_NAME_LABEL, names.GATEWAY_NAME_LABEL)


def _deployment(
    gateway: Gateway,
    meta: _Metadata,
    ports: list[tuple[int, str]],
    parameters: AgentgatewayParametersSpec,
    settings: ProvisionSettings,
) -> Manifest:
    spec: dict[str, Any] = {
        "selector": {"matchLabels": {key: meta.labels[key] for key in _SELECTOR_KEYS}},
        # Keep full capacity while a new version rolls out.
        "strategy": {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxUnavailable": 0, "maxSurge": "25%"},
        },
        "template": {
            "metadata": meta.pod_template(),
            "spec": pod_spec(gateway, meta.name, ports, parameters, settings),
        },
    }
    if parameters.autoscaling is None:
        # With an autoscaler the replica count is its to set; leaving it out of the
        # Deployment keeps an update from resetting it.
        spec["replicas"] = (
            parameters.replicas if parameters.replicas is not None else settings.proxy.replicas
        )
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta.render(), "spec": spec}


def _autoscaler(meta: _Metadata, parameters: AgentgatewayParametersSpec) -> Manifest:
    scaling = parameters.autoscaling
    assert scaling is not None
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": meta.render(),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": meta.name},
            "minReplicas": scaling.min_replicas,
            "maxReplicas": scaling.max_replicas,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {
                            "type": "Utilization",
                            "averageUtilization": scaling.target_cpu_utilization_percentage,
                        },
                    },
                }
            ],
        },
    }


def _disruption_budget(
    gateway: Gateway, meta: _Metadata, parameters: AgentgatewayParametersSpec
) -> Manifest:
    budget = parameters.pod_disruption_budget
    assert budget is not None
    spec: dict[str, Any] = {"selector": {"matchLabels": names.selector_labels(gateway)}}
    if budget.min_available is not None:
        spec["minAvailable"] = budget.min_available
    if budget.max_unavailable is not None:
        spec["maxUnavailable"] = budget.max_unavailable
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": meta.render(),
        "spec": spec,
    }
