"""xDS resources compiled into the immutable runtime config the request path reads."""

from dataplane.config.cluster import ClusterConfig, EndpointConfig, OutlierPolicy
from dataplane.config.listener import FilterChainConfig, HttpSettings, ListenerConfig
from dataplane.config.route_table import RouteEntry, RouteTable, VirtualHostTable
from dataplane.config.runtime import (
    EMPTY_CONFIG,
    RuntimeConfig,
    XdsResources,
    compile_config,
)
from dataplane.config.tls_context import CertificateConfig

__all__ = [
    "EMPTY_CONFIG",
    "CertificateConfig",
    "ClusterConfig",
    "EndpointConfig",
    "FilterChainConfig",
    "HttpSettings",
    "ListenerConfig",
    "OutlierPolicy",
    "RouteEntry",
    "RouteTable",
    "RuntimeConfig",
    "VirtualHostTable",
    "XdsResources",
    "compile_config",
]
