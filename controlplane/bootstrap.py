"""Envoy bootstrap that points an unmodified Envoy at agw's ADS server.

The node names its gateway the way ``controlplane.xds.server`` expects: ``node.cluster`` and
``node.metadata["gateway"]`` are ``"NAMESPACE/NAME"``. Everything else (listeners, clusters,
routes, endpoints, secrets) arrives over one ADS stream.
"""

from __future__ import annotations

import ipaddress
from typing import Any

XDS_CLUSTER = "agw-xds"
_HTTP_PROTOCOL_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"


def envoy_bootstrap(
    gateway: str,
    xds_address: str,
    *,
    delta: bool,
    admin_address: str = "127.0.0.1:0",
    node_id: str | None = None,
) -> dict[str, Any]:
    """A bootstrap as a JSON-ready dict; write it as YAML or JSON for ``envoy -c``.

    ``node_id`` defaults to ``envoy/NAMESPACE/NAME``; several Envoys of one gateway need
    distinct ids (``envoy --service-node`` overrides it too).
    """
    admin_host, admin_port = _split_host_port(admin_address)
    return {
        "node": {
            "id": node_id or f"envoy/{gateway}",
            "cluster": gateway,
            "metadata": {"gateway": gateway},
        },
        "dynamic_resources": {
            "ads_config": {
                "api_type": "DELTA_GRPC" if delta else "GRPC",
                "transport_api_version": "V3",
                "grpc_services": [{"envoy_grpc": {"cluster_name": XDS_CLUSTER}}],
                "set_node_on_first_message_only": True,
            },
            "lds_config": {"ads": {}, "resource_api_version": "V3"},
            "cds_config": {"ads": {}, "resource_api_version": "V3"},
        },
        "static_resources": {"clusters": [_xds_cluster(xds_address)]},
        "admin": {"address": _socket_address(admin_host, admin_port)},
        # Spans leave every second, as the agw proxy exports them (Envoy's default is 5 s).
        "layered_runtime": {
            "layers": [
                {
                    "name": "static",
                    "static_layer": {"tracing.opentelemetry.flush_interval_ms": 1000},
                }
            ]
        },
    }


def _xds_cluster(xds_address: str) -> dict[str, Any]:
    host, port = _split_host_port(xds_address)
    return {
        "name": XDS_CLUSTER,
        # A literal address needs no resolver; a Service name (Kubernetes) does.
        "type": "STATIC" if _is_ip(host) else "STRICT_DNS",
        "connect_timeout": "1s",
        "typed_extension_protocol_options": {
            _HTTP_PROTOCOL_OPTIONS: {
                "@type": f"type.googleapis.com/{_HTTP_PROTOCOL_OPTIONS}",
                "explicit_http_config": {
                    "http2_protocol_options": {
                        # Finds a dead control plane while the stream is idle.
                        "connection_keepalive": {"interval": "30s", "timeout": "10s"},
                    }
                },
            }
        },
        "load_assignment": {
            "cluster_name": XDS_CLUSTER,
            "endpoints": [
                {"lb_endpoints": [{"endpoint": {"address": _socket_address(host, port)}}]}
            ],
        },
    }


def _socket_address(host: str, port: int) -> dict[str, Any]:
    return {"socket_address": {"address": host, "port_value": port}}


def _split_host_port(address: str) -> tuple[str, int]:
    host, separator, port = address.rpartition(":")
    if not separator or not port.isdigit():
        raise ValueError(f"expected HOST:PORT, got {address!r}")
    return host.strip("[]"), int(port)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
