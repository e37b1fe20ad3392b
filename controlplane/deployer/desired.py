"""Which objects should exist, for every Gateway agw provisions, and the addresses of their
Services: both pure functions of a ResourceSet, shared by every control-plane replica.

The Service of a Gateway also exposes the ports of its accepted ListenerSet listeners
(``listener_set_ports``, from the last translation's statuses).

A Gateway is provisioned when its GatewayClass names our controller and both the class's and
the Gateway's parametersRef resolve. When a reference does not resolve (a typo, a parameters
object not created yet), the Gateway's existing objects are left exactly as they are rather
than deleted: a broken reference must not take running proxies down.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from controlplane.deployer import names
from controlplane.deployer.listenersets import GatewayPorts
from controlplane.deployer.render import render_gateway
from controlplane.deployer.settings import ProvisionSettings
from controlplane.deployer.workload import Manifest
from translator.gatewayapi.parameters import resolve_gateway_parameters
from translator.model import GatewayClass, Service
from translator.resources import ResourceSet

# (type, value) pairs as Gateway status.addresses shows them.
Addresses = tuple[tuple[str, str], ...]


class ObjectRef(NamedTuple):
    api_version: str
    kind: str
    namespace: str
    name: str

    @classmethod
    def of(cls, manifest: Mapping[str, Any]) -> ObjectRef:
        meta = manifest["metadata"]
        return cls(manifest["apiVersion"], manifest["kind"], meta["namespace"], meta["name"])

    def __str__(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"


@dataclass(frozen=True)
class DesiredState:
    objects: dict[ObjectRef, Manifest] = field(default_factory=dict)
    # "namespace/name" of Gateways whose objects stay as they are (parameters do not resolve).
    untouched: frozenset[str] = frozenset()
    # "namespace/name" of every Gateway provisioned, with its Service's (namespace, name).
    services: dict[str, tuple[str, str]] = field(default_factory=dict)


def desired_state(
    resources: ResourceSet,
    settings: ProvisionSettings,
    listener_set_ports: GatewayPorts | None = None,
) -> DesiredState:
    classes: dict[str, GatewayClass] = {
        item.metadata.name: item
        for item in resources.gateway_classes
        if item.spec.controller_name == settings.controller_name
    }
    objects: dict[ObjectRef, Manifest] = {}
    untouched: set[str] = set()
    services: dict[str, tuple[str, str]] = {}
    for gateway in resources.gateways:
        gateway_class = classes.get(gateway.spec.gateway_class_name)
        if gateway_class is None or gateway.metadata.deletion_timestamp:
            continue
        key = f"{gateway.metadata.namespace}/{gateway.metadata.name}"
        parameters = resolve_gateway_parameters(resources, gateway_class, gateway)
        if parameters.spec is None:
            untouched.add(key)
            continue
        extra = (listener_set_ports or {}).get(key, ())
        for manifest in render_gateway(gateway, gateway_class, parameters.spec, settings, extra):
            objects[ObjectRef.of(manifest)] = manifest
        services[key] = (gateway.metadata.namespace, names.provisioned_name(gateway.metadata.name))
    return DesiredState(objects, frozenset(untouched), services)


def gateway_addresses(resources: ResourceSet, settings: ProvisionSettings) -> dict[str, Addresses]:
    """ "namespace/name" -> the addresses of its provisioned Service, for every provisioned
    Gateway whose Service has any; pass as TranslateOptions.published_addresses."""
    services = desired_state(resources, settings).services
    return services_addresses(services, lambda ns, name: resources.get(Service, ns, name))


def services_addresses(
    services: Mapping[str, tuple[str, str]], lookup: Callable[[str, str], Service | None]
) -> dict[str, Addresses]:
    """Per Gateway ("namespace/name" -> its Service's namespace and name), the addresses its
    Service has now, as ``lookup`` finds it; Gateways whose Service has none (yet) are left
    out."""
    found: dict[str, Addresses] = {}
    for gateway, (namespace, name) in services.items():
        service = lookup(namespace, name)
        if service is None:
            continue
        manifest = {
            "spec": service.spec.model_dump(by_alias=True, exclude_none=True),
            "status": service.status or {},
        }
        addresses = service_addresses(manifest)
        if addresses:
            found[gateway] = addresses
    return found


def service_addresses(service: Mapping[str, Any]) -> Addresses:
    """A Service's reachable addresses: the load balancer's once it has any, else (for
    ClusterIP and NodePort Services) the cluster IP."""
    spec = service.get("spec") or {}
    if spec.get("type", "ClusterIP") == "LoadBalancer":
        ingress = ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        result: list[tuple[str, str]] = []
        for entry in ingress:
            if entry.get("ip"):
                result.append(("IPAddress", str(entry["ip"])))
            if entry.get("hostname"):
                result.append(("Hostname", str(entry["hostname"])))
        return tuple(result)
    cluster_ip = spec.get("clusterIP")
    if cluster_ip and cluster_ip != "None":
        return (("IPAddress", str(cluster_ip)),)
    return ()
