"""Envoy extension names agw configures, and the packing of their typed configs.

The names appear in dumps and in the per-filter configs of routes, so they live in one place.
"""

from __future__ import annotations

from envoy.config.core.v3 import config_source_pb2
from google.protobuf import any_pb2
from google.protobuf.message import Message

HTTP_CONNECTION_MANAGER = "envoy.filters.network.http_connection_manager"
FAULT_FILTER = "envoy.filters.http.fault"
CORS_FILTER = "envoy.filters.http.cors"
ROUTER_FILTER = "envoy.filters.http.router"
TLS_INSPECTOR = "envoy.filters.listener.tls_inspector"
TCP_PROXY = "envoy.filters.network.tcp_proxy"
UDP_PROXY = "envoy.filters.udp_listener.udp_proxy"
TLS_TRANSPORT_SOCKET = "envoy.transport_sockets.tls"
HTTP_PROTOCOL_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
WEBSOCKET = "websocket"
STATEFUL_SESSION_FILTER = "envoy.filters.http.stateful_session"
COOKIE_SESSION_STATE = "envoy.http.stateful_session.cookie"
HEADER_SESSION_STATE = "envoy.http.stateful_session.header"


def pack(message: Message) -> Message:
    """Wrap a typed config in ``google.protobuf.Any``."""
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


def ads_config_source() -> Message:
    """RDS, EDS and SDS all arrive on the one ADS stream the bootstrap opens."""
    return config_source_pb2.ConfigSource(
        ads=config_source_pb2.AggregatedConfigSource(),
        resource_api_version=config_source_pb2.V3,
    )
