"""Proxy provisioning in Kubernetes: for every Gateway of an agw GatewayClass, the
ServiceAccount, Deployment, Service (and optionally HorizontalPodAutoscaler and
PodDisruptionBudget) its proxies need, owned by the Gateway.

``render_gateway`` and ``desired_state`` are pure; ``Provisioner`` applies them to a cluster
through kubernetes-asyncio, only while this replica leads.
"""

from controlplane.deployer.desired import (
    Addresses,
    DesiredState,
    ObjectRef,
    desired_state,
    gateway_addresses,
    service_addresses,
    services_addresses,
)
from controlplane.deployer.listenersets import GatewayPorts, listener_set_ports
from controlplane.deployer.names import provisioned_name, service_account_username
from controlplane.deployer.reconciler import Provisioner, ReconcileReport
from controlplane.deployer.render import render_gateway
from controlplane.deployer.settings import (
    ProvisionSettings,
    ProxyDefaults,
    load_settings,
    settings_from_document,
)
from controlplane.deployer.xds_security import SecureXds, secure_xds

__all__ = [
    "Addresses",
    "DesiredState",
    "GatewayPorts",
    "ObjectRef",
    "ProvisionSettings",
    "Provisioner",
    "ProxyDefaults",
    "ReconcileReport",
    "SecureXds",
    "desired_state",
    "gateway_addresses",
    "listener_set_ports",
    "load_settings",
    "provisioned_name",
    "render_gateway",
    "secure_xds",
    "service_account_username",
    "service_addresses",
    "services_addresses",
    "settings_from_document",
]
