"""The proxy Deployment of a Gateway: ``agw proxy`` pods that fetch their Gateway's xDS.

Each pod runs ``agw proxy --gateway NS/NAME`` against the control plane's xDS Service. With
a CA configured, the pod mounts one projected volume holding a ServiceAccount token for the
xDS audience (kubelet rotates it) and the CA bundle, and passes both files to the proxy; the
pod's default API token is not mounted, since a proxy never talks to the API server.

Graceful termination: a preStop sleep lets endpoint removal reach load balancers before the
proxy gets SIGTERM, then the proxy drains in-flight requests within the grace period.
Readiness is the proxy admin's ``/ready`` (a complete configuration applied); the admin
listens on the pod IP because kubelet probes it there, and no Service exposes that port.
"""

from __future__ import annotations

from typing import Any

from controlplane.deployer.settings import ProvisionSettings
from translator.model import AgentgatewayParametersSpec, Gateway

Manifest = dict[str, Any]

XDS_VOLUME = "xds"
XDS_MOUNT = "/var/run/secrets/agw/xds"
TOKEN_FILE = "token"
CA_FILE = "ca.crt"
CONTAINER = "proxy"
# The image runs as this user (see the Dockerfile); listeners bind low ports through the
# unprivileged-port sysctl rather than root or NET_BIND_SERVICE.
PROXY_UID = 10001


def proxy_args(gateway: Gateway, workers: int, settings: ProvisionSettings) -> list[str]:
    meta = gateway.metadata
    args = [
        "proxy",
        "--xds-address",
        settings.xds_address,
        "--gateway",
        f"{meta.namespace}/{meta.name}",
        "--node-id",
        "$(POD_NAME).$(POD_NAMESPACE)",
        "--workers",
        str(workers),
        "--admin-address",
        f"0.0.0.0:{settings.admin_port}",
    ]
    if settings.secure_xds:
        args += [
            "--xds-ca-file",
            f"{XDS_MOUNT}/{CA_FILE}",
            "--xds-token-file",
            f"{XDS_MOUNT}/{TOKEN_FILE}",
        ]
    return args


def pod_spec(
    gateway: Gateway,
    name: str,
    listener_ports: list[tuple[int, str]],
    parameters: AgentgatewayParametersSpec,
    settings: ProvisionSettings,
) -> Manifest:
    defaults = settings.proxy
    container: Manifest = {
        "name": CONTAINER,
        "image": parameters.image or defaults.image,
        "imagePullPolicy": str(parameters.image_pull_policy or defaults.image_pull_policy),
        "args": proxy_args(gateway, parameters.workers or defaults.workers, settings),
        "env": [
            _field_env("POD_NAME", "metadata.name"),
            _field_env("POD_NAMESPACE", "metadata.namespace"),
        ],
        "ports": [
            {"containerPort": port, "protocol": protocol} for port, protocol in listener_ports
        ]
        + [{"name": "admin", "containerPort": settings.admin_port, "protocol": "TCP"}],
        "readinessProbe": {
            "httpGet": {"path": "/ready", "port": "admin"},
            "periodSeconds": 2,
            "failureThreshold": 2,
        },
        "lifecycle": {
            "preStop": {"exec": {"command": ["sleep", str(settings.drain_delay_seconds)]}}
        },
        "resources": _resources(parameters, settings),
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    volumes: list[Manifest] = [{"name": "tmp", "emptyDir": {}}]
    if settings.secure_xds:
        container["volumeMounts"].append(
            {"name": XDS_VOLUME, "mountPath": XDS_MOUNT, "readOnly": True}
        )
        volumes.append(_xds_volume(name, settings))
    grace = parameters.termination_grace_period_seconds or (
        defaults.termination_grace_period_seconds
    )
    return {
        "serviceAccountName": name,
        "automountServiceAccountToken": False,
        "terminationGracePeriodSeconds": grace,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": PROXY_UID,
            "runAsGroup": PROXY_UID,
            "seccompProfile": {"type": "RuntimeDefault"},
            "sysctls": [{"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"}],
        },
        "containers": [container],
        "volumes": volumes,
    }


def _field_env(name: str, path: str) -> Manifest:
    return {"name": name, "valueFrom": {"fieldRef": {"fieldPath": path}}}


def _resources(parameters: AgentgatewayParametersSpec, settings: ProvisionSettings) -> Manifest:
    if parameters.resources is not None:
        chosen = {
            "requests": dict(parameters.resources.requests),
            "limits": dict(parameters.resources.limits),
        }
    else:
        chosen = {key: dict(value) for key, value in settings.proxy.resources.items()}
    return {key: value for key, value in chosen.items() if value}


def _xds_volume(name: str, settings: ProvisionSettings) -> Manifest:
    return {
        "name": XDS_VOLUME,
        "projected": {
            "sources": [
                {
                    "serviceAccountToken": {
                        "path": TOKEN_FILE,
                        "audience": settings.token_audience,
                        "expirationSeconds": settings.token_expiration_seconds,
                    }
                },
                {"configMap": {"name": name, "items": [{"key": CA_FILE, "path": CA_FILE}]}},
            ]
        },
    }
