"""The Kubernetes-shaped YAML every benchmark writes into the directory `agw run` serves:
one Gateway, a Service with an EndpointSlice per echo backend, and HTTPRoutes by the
thousand. Files are replaced atomically so the file source never reads half a write."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

GATEWAY = "bench"
NAMESPACE = "default"
LISTENER_PORT = 8080
SERVICE_PORT = 80
STABLE_HOST = "stable.example.com"
STABLE_FILE = "stable.yaml"

Document = dict[str, Any]


def gateway_manifests(gateway_ip: str) -> list[Document]:
    return [
        {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "GatewayClass",
            "metadata": {"name": "agw"},
            "spec": {"controllerName": "agentgateway.dev/agentgateway"},
        },
        {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "Gateway",
            "metadata": {"name": GATEWAY, "namespace": NAMESPACE},
            "spec": {
                "gatewayClassName": "agw",
                "addresses": [{"type": "IPAddress", "value": gateway_ip}],
                "listeners": [{"name": "http", "port": LISTENER_PORT, "protocol": "HTTP"}],
            },
        },
    ]


def service_manifests(name: str, ip: str, port: int) -> list[Document]:
    """A Service named after the backend, with one endpoint: the echo server at ip:port."""
    return [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {"ports": [{"name": "http", "port": SERVICE_PORT, "targetPort": port}]},
        },
        {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "name": f"{name}-1",
                "namespace": NAMESPACE,
                "labels": {"kubernetes.io/service-name": name},
            },
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": port}],
            "endpoints": [{"addresses": [ip]}],
        },
    ]


def http_route(name: str, host: str, service: str) -> Document:
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "parentRefs": [{"name": GATEWAY}],
            "hostnames": [host],
            "rules": [
                {
                    "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                    "backendRefs": [{"name": service, "port": SERVICE_PORT}],
                }
            ],
        },
    }


def bulk_routes(count: int, service: str, prefix: str = "r") -> list[Document]:
    """``count`` routes, each with its own hostname ``<prefix><i>.example.com``."""
    return [http_route(f"{prefix}{i}", bulk_host(i, prefix), service) for i in range(count)]


def bulk_host(index: int, prefix: str = "r") -> str:
    return f"{prefix}{index}.example.com"


def write_documents(path: Path, documents: list[Document]) -> None:
    # JSON is YAML; json.dumps is an order of magnitude faster than yaml.dump at 10,000 routes.
    staging = path.with_name("." + path.name + ".tmp")
    staging.write_text("\n---\n".join(json.dumps(document) for document in documents))
    staging.replace(path)
