"""What the control plane tells the deployer: where proxies find xDS, and the proxy defaults
(the Helm chart's ``proxy`` values) that AgentgatewayParameters may override.

In a cluster they come from one YAML file the Helm chart renders into a ConfigMap
(``agw controlplane --provisioning FILE``); ``settings_from_document`` reads it::

    xdsAddress: agw-xds.agw-system.svc:15010
    xdsServerNames: [agw-xds.agw-system.svc, agw-xds.agw-system.svc.cluster.local]
    xdsCASecret: agw-xds-ca
    tokenAudience: agw-xds
    proxy:
      image: agw:0.1.0
      imagePullPolicy: IfNotPresent
      replicas: 1
      workers: 2
      resources: {requests: {cpu: 100m, memory: 128Mi}}
      serviceType: LoadBalancer
      terminationGracePeriodSeconds: 60

The CA certificate itself is not in the file: the control plane loads (or creates) it at start
from ``xdsCASecret`` and sets ``xds_ca_certificate``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from translator.options import DEFAULT_CONTROLLER_NAME

DEFAULT_IMAGE = "agw:0.1.0"
DEFAULT_TOKEN_AUDIENCE = "agw-xds"


def _default_resources() -> Mapping[str, Mapping[str, int | str]]:
    return MappingProxyType({"requests": MappingProxyType({"cpu": "100m", "memory": "128Mi"})})


@dataclass(frozen=True)
class ProxyDefaults:
    image: str = DEFAULT_IMAGE
    image_pull_policy: str = "IfNotPresent"
    replicas: int = 1
    workers: int = 2
    # {"requests": {...}, "limits": {...}}, as in a container spec.
    resources: Mapping[str, Mapping[str, int | str]] = field(default_factory=_default_resources)
    service_type: str = "LoadBalancer"
    termination_grace_period_seconds: int = 60


@dataclass(frozen=True)
class ProvisionSettings:
    # HOST:PORT of the control plane's xDS Service, as the proxies reach it.
    xds_address: str
    controller_name: str = DEFAULT_CONTROLLER_NAME
    proxy: ProxyDefaults = field(default_factory=ProxyDefaults)
    # Names the xDS Service answers to: the SANs of the serving certificate.
    xds_server_names: tuple[str, ...] = ()
    # Secret (in the control plane's namespace) holding agw's xDS CA; "" with no TLS.
    xds_ca_secret: str = ""
    # PEM of the CA that signs the xDS server certificate; proxies verify the server with it.
    # Empty: xDS is plaintext and proxies present no token (development clusters only).
    xds_ca_certificate: str = ""
    # The audience of the projected ServiceAccount token a proxy presents to the control plane;
    # a token minted for anything else (the API server, another service) is refused.
    token_audience: str = DEFAULT_TOKEN_AUDIENCE
    token_expiration_seconds: int = 3600
    admin_port: int = 15001
    # Before a stopping proxy drains, load balancers and kube-proxy need a moment to stop
    # sending it new connections (endpoint removal is asynchronous).
    drain_delay_seconds: int = 5

    @property
    def secure_xds(self) -> bool:
        return bool(self.xds_ca_certificate)


def settings_from_document(doc: Mapping[str, Any]) -> ProvisionSettings:
    """Settings from the provisioning file's mapping (camelCase keys, as documented above);
    absent keys keep their defaults. Raises ValueError naming a malformed key."""
    proxy = doc.get("proxy") or {}
    if not isinstance(proxy, Mapping):
        raise ValueError("provisioning: proxy must be a mapping")
    base = ProxyDefaults()
    resources = proxy.get("resources", base.resources)
    if not isinstance(resources, Mapping):
        raise ValueError("provisioning: proxy.resources must be a mapping")
    defaults = ProxyDefaults(
        image=str(proxy.get("image") or base.image),
        image_pull_policy=str(proxy.get("imagePullPolicy") or base.image_pull_policy),
        replicas=_integer(proxy, "replicas", base.replicas),
        workers=_integer(proxy, "workers", base.workers),
        resources={str(k): dict(v or {}) for k, v in resources.items()},
        service_type=str(proxy.get("serviceType") or base.service_type),
        termination_grace_period_seconds=_integer(
            proxy, "terminationGracePeriodSeconds", base.termination_grace_period_seconds
        ),
    )
    address = doc.get("xdsAddress")
    if not isinstance(address, str) or not address:
        raise ValueError("provisioning: xdsAddress (HOST:PORT of the xDS Service) is required")
    return ProvisionSettings(
        xds_address=address,
        controller_name=str(doc.get("controllerName") or DEFAULT_CONTROLLER_NAME),
        proxy=defaults,
        xds_server_names=tuple(str(name) for name in doc.get("xdsServerNames") or ()),
        xds_ca_secret=str(doc.get("xdsCASecret") or ""),
        xds_ca_certificate=str(doc.get("xdsCACertificate") or ""),
        token_audience=str(doc.get("tokenAudience") or DEFAULT_TOKEN_AUDIENCE),
    )


def load_settings(path: Path) -> ProvisionSettings:
    document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(document, Mapping):
        raise ValueError(f"{path}: expected a mapping")
    return settings_from_document(document)


def _integer(mapping: Mapping[str, Any], key: str, default: int) -> int:
    value = mapping.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"provisioning: proxy.{key} must be an integer")
    return value
