"""A Gateway's AgentgatewayPolicy frontend settings (``ir.Listener.connection``) applied to
its built Envoy listener, with Envoy's standard fields: ``tls_params``, ALPN and
``transport_socket_connect_timeout`` on TLS chains; connection-manager limits, access logs
and tracing on HTTP chains; TCP keepalive as listening-socket options (accepted sockets
inherit them); the PROXY protocol as the first listener filter."""

from __future__ import annotations

import math
from typing import Any

from envoy.config.core.v3 import socket_option_pb2
from envoy.config.listener.v3 import listener_components_pb2
from envoy.extensions.filters.listener.proxy_protocol.v3 import proxy_protocol_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from envoy.extensions.transport_sockets.tls.v3 import common_pb2, tls_pb2

from translator.ir.connection import (
    DownstreamHttp,
    DownstreamTlsParams,
    FrontendConnection,
    TcpKeepalive,
)
from translator.xds.access_log import build_access_log
from translator.xds.extensions import HTTP_CONNECTION_MANAGER, pack
from translator.xds.policy_backend import duration, whole_seconds
from translator.xds.policy_metrics import add_request_metrics_filter
from translator.xds.tracing import build_tracing

PROXY_PROTOCOL = "envoy.filters.listener.proxy_protocol"
_TLS_VERSIONS = {
    "1.2": common_pb2.TlsParameters.TLSv1_2,
    "1.3": common_pb2.TlsParameters.TLSv1_3,
}
# Envoy's bounds for HTTP/2 flow-control windows.
_MIN_WINDOW = 65535
_MAX_WINDOW = 2147483647
_MAX_HEADERS_KB = 8192
_KEEPALIVE_TIMEOUT = 20.0
# RFC 9113's identifier of the largest frame payload a peer accepts.
SETTINGS_MAX_FRAME_SIZE = 0x5
# Linux socket option numbers (both data planes run on Linux): SOL_SOCKET/SO_KEEPALIVE and
# IPPROTO_TCP/TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT.
_SOL_SOCKET, _SO_KEEPALIVE = 1, 9
_IPPROTO_TCP, _TCP_KEEPIDLE, _TCP_KEEPINTVL, _TCP_KEEPCNT = 6, 4, 5, 6


def apply_frontend_connection(built: Any, connection: FrontendConnection) -> None:
    """Set ``built`` (an Envoy Listener with TCP filter chains) from ``connection``."""
    if connection.keepalive is not None:
        built.socket_options.extend(_keepalive_options(connection.keepalive))
    if connection.proxy_protocol_required is not None:
        _add_proxy_protocol(built, connection.proxy_protocol_required)
    http = connection.http
    if http is not None and http.max_buffer_bytes is not None:
        built.per_connection_buffer_limit_bytes.value = http.max_buffer_bytes
    for chain in built.filter_chains:
        if connection.tls is not None and chain.HasField("transport_socket"):
            _apply_tls(chain, connection.tls)
        for network_filter in chain.filters:
            if network_filter.name == HTTP_CONNECTION_MANAGER and (
                http is not None
                or connection.access_log is not None
                or connection.metric_labels
                or connection.tracing is not None
            ):
                manager = hcm_pb2.HttpConnectionManager()
                network_filter.typed_config.Unpack(manager)
                if http is not None:
                    _apply_http(manager, http)
                if connection.access_log is not None:
                    manager.access_log.append(build_access_log(connection.access_log))
                if connection.metric_labels:
                    add_request_metrics_filter(manager, connection.metric_labels)
                if connection.tracing is not None:
                    manager.tracing.CopyFrom(build_tracing(connection.tracing))
                network_filter.typed_config.Pack(manager)


def _add_proxy_protocol(built: Any, required: bool) -> None:
    # The header precedes everything, the ClientHello the tls_inspector reads included.
    config = proxy_protocol_pb2.ProxyProtocol(allow_requests_without_proxy_protocol=not required)
    built.listener_filters.insert(
        0, listener_components_pb2.ListenerFilter(name=PROXY_PROTOCOL, typed_config=pack(config))
    )


def _apply_tls(chain: Any, params: DownstreamTlsParams) -> None:
    context = tls_pb2.DownstreamTlsContext()
    chain.transport_socket.typed_config.Unpack(context)
    common = context.common_tls_context
    if params.min_version is not None:
        common.tls_params.tls_minimum_protocol_version = _TLS_VERSIONS[params.min_version]
    if params.max_version is not None:
        common.tls_params.tls_maximum_protocol_version = _TLS_VERSIONS[params.max_version]
    common.tls_params.cipher_suites.extend(params.cipher_suites)
    if params.alpn_protocols:
        del common.alpn_protocols[:]
        common.alpn_protocols.extend(params.alpn_protocols)
    chain.transport_socket.typed_config.Pack(context)
    if params.handshake_timeout_seconds is not None:
        chain.transport_socket_connect_timeout.CopyFrom(duration(params.handshake_timeout_seconds))


def _apply_http(manager: Any, http: DownstreamHttp) -> None:
    common = manager.common_http_protocol_options
    if http.max_headers is not None:
        common.max_headers_count.value = http.max_headers
    if http.idle_timeout_seconds is not None:
        common.idle_timeout.CopyFrom(duration(http.idle_timeout_seconds))
    if http.max_header_bytes is not None:
        kilobytes = min(_MAX_HEADERS_KB, math.ceil(http.max_header_bytes / 1024))
        manager.max_request_headers_kb.value = kilobytes
    http2 = manager.http2_protocol_options
    if http.http2_stream_window is not None:
        http2.initial_stream_window_size.value = _window(http.http2_stream_window)
    if http.http2_connection_window is not None:
        http2.initial_connection_window_size.value = _window(http.http2_connection_window)
    if http.http2_frame_size is not None:
        # Envoy has no named field for it; it sends (and honours) custom SETTINGS parameters.
        parameter = http2.custom_settings_parameters.add()
        parameter.identifier.value = SETTINGS_MAX_FRAME_SIZE
        parameter.value.value = http.http2_frame_size
    interval = http.http2_keepalive_interval_seconds
    if interval is not None:
        http2.connection_keepalive.interval.CopyFrom(duration(interval))
        # Envoy requires a timeout with an interval: 20s when unset, as agw's proxy.
        timeout = http.http2_keepalive_timeout_seconds
        http2.connection_keepalive.timeout.CopyFrom(
            duration(timeout if timeout is not None else _KEEPALIVE_TIMEOUT)
        )


def _window(size: int) -> int:
    return min(_MAX_WINDOW, max(_MIN_WINDOW, size))


def _keepalive_options(keepalive: TcpKeepalive) -> list[Any]:
    def option(level: int, name: int, value: int, description: str) -> Any:
        return socket_option_pb2.SocketOption(
            description=description,
            level=level,
            name=name,
            int_value=value,
            state=socket_option_pb2.SocketOption.STATE_LISTENING,
        )

    options = [option(_SOL_SOCKET, _SO_KEEPALIVE, 1, "SO_KEEPALIVE")]
    if keepalive.idle_seconds is not None:
        idle = whole_seconds(keepalive.idle_seconds)
        options.append(option(_IPPROTO_TCP, _TCP_KEEPIDLE, idle, "TCP_KEEPIDLE"))
    if keepalive.interval_seconds is not None:
        interval = whole_seconds(keepalive.interval_seconds)
        options.append(option(_IPPROTO_TCP, _TCP_KEEPINTVL, interval, "TCP_KEEPINTVL"))
    if keepalive.probes is not None:
        options.append(option(_IPPROTO_TCP, _TCP_KEEPCNT, keepalive.probes, "TCP_KEEPCNT"))
    return options
