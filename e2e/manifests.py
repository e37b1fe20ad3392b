"""Kubernetes YAML for end-to-end scenarios, built from dicts (no string templating)."""

from __future__ import annotations

from typing import Any

import yaml

GATEWAY_API = "gateway.networking.k8s.io/v1"
POLICY_API = "agentgateway.dev/v1alpha1"
CLASS = "agw"


def dump(*docs: dict[str, Any]) -> str:
    return yaml.safe_dump_all(docs, sort_keys=False)


def gateway_class() -> dict[str, Any]:
    return {
        "apiVersion": GATEWAY_API,
        "kind": "GatewayClass",
        "metadata": {"name": CLASS},
        "spec": {"controllerName": "agentgateway.dev/agentgateway"},
    }


def namespace(name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": labels or {}},
    }


def http_listener(
    name: str, port: int, hostname: str | None = None, **extra: Any
) -> dict[str, Any]:
    listener: dict[str, Any] = {"name": name, "port": port, "protocol": "HTTP"}
    if hostname:
        listener["hostname"] = hostname
    listener["allowedRoutes"] = {"namespaces": {"from": "All"}}
    listener.update(extra)
    return listener


def https_listener(
    name: str, port: int, secrets: list[str], hostname: str | None = None
) -> dict[str, Any]:
    listener = http_listener(name, port, hostname)
    listener["protocol"] = "HTTPS"
    listener["tls"] = {"mode": "Terminate", "certificateRefs": [{"name": s} for s in secrets]}
    return listener


def gateway(name: str, namespace_: str, listeners: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": GATEWAY_API,
        "kind": "Gateway",
        "metadata": {"name": name, "namespace": namespace_},
        "spec": {"gatewayClassName": CLASS, "listeners": listeners},
    }


def service(
    name: str,
    namespace_: str,
    endpoints: list[str],
    port: int = 80,
    app_protocol: str | None = None,
) -> list[dict[str, Any]]:
    """A Service and its EndpointSlice; ``endpoints`` are "IP:PORT" (one target port)."""
    target = int(endpoints[0].rpartition(":")[2])
    service_port: dict[str, Any] = {"name": "http", "port": port, "targetPort": target}
    if app_protocol:
        service_port["appProtocol"] = app_protocol
    return [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "namespace": namespace_},
            "spec": {"ports": [service_port]},
        },
        {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "name": f"{name}-slice",
                "namespace": namespace_,
                "labels": {"kubernetes.io/service-name": name},
            },
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": target}],
            "endpoints": [{"addresses": [e.rpartition(":")[0]]} for e in endpoints],
        },
    ]


def http_route(
    name: str,
    namespace_: str,
    rules: list[dict[str, Any]],
    parents: list[dict[str, Any]],
    hostnames: list[str] | None = None,
) -> dict[str, Any]:
    spec: dict[str, Any] = {"parentRefs": parents, "rules": rules}
    if hostnames:
        spec["hostnames"] = hostnames
    return {
        "apiVersion": GATEWAY_API,
        "kind": "HTTPRoute",
        "metadata": {"name": name, "namespace": namespace_},
        "spec": spec,
    }


def backend(name: str, port: int = 80, **extra: Any) -> dict[str, Any]:
    return {"name": name, "port": port, **extra}


def reference_grant(
    namespace_: str, from_namespace: str, to_kind: str = "Service"
) -> dict[str, Any]:
    return {
        "apiVersion": "gateway.networking.k8s.io/v1beta1",
        "kind": "ReferenceGrant",
        "metadata": {"name": f"from-{from_namespace}", "namespace": namespace_},
        "spec": {
            "from": [
                {
                    "group": "gateway.networking.k8s.io",
                    "kind": "HTTPRoute",
                    "namespace": from_namespace,
                }
            ],
            "to": [{"group": "", "kind": to_kind}],
        },
    }


def tls_secret(name: str, namespace_: str, cert_pem: bytes, key_pem: bytes) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace_},
        "type": "kubernetes.io/tls",
        "stringData": {"tls.crt": cert_pem.decode(), "tls.key": key_pem.decode()},
    }


def agw_policy(
    name: str, namespace_: str, target: dict[str, Any], **sections: Any
) -> dict[str, Any]:
    """An AgentgatewayPolicy on one target with ``sections`` (traffic=..., frontend=...)."""
    return {
        "apiVersion": POLICY_API,
        "kind": "AgentgatewayPolicy",
        "metadata": {"name": name, "namespace": namespace_},
        "spec": {"targetRefs": [target], **sections},
    }


def policy_target(kind: str, name: str) -> dict[str, Any]:
    """A policy targetRef: a Service (core group) or a Gateway API kind."""
    group = "" if kind == "Service" else "gateway.networking.k8s.io"
    return {"group": group, "kind": kind, "name": name}
