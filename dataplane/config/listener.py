"""Compile a Listener (and the HttpConnectionManager in each filter chain) into plain values."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from envoy.config.accesslog.v3 import accesslog_pb2
from envoy.extensions.access_loggers.file.v3 import file_pb2
from envoy.extensions.access_loggers.stream.v3 import stream_pb2
from envoy.extensions.filters.http.cors.v3 import cors_pb2
from envoy.extensions.filters.http.fault.v3 import fault_pb2
from envoy.extensions.filters.http.router.v3 import router_pb2
from envoy.extensions.filters.listener.tls_inspector.v3 import tls_inspector_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from envoy.extensions.transport_sockets.tls.v3 import tls_pb2

from dataplane.config.access_log import AccessLogShape, compile_access_log_shape
from dataplane.config.cluster import Http2Options, http2_options
from dataplane.config.connection import (
    NO_CONNECTION_SETTINGS,
    PROXY_PROTOCOL_FILTER,
    ListenerConnection,
    TlsParams,
    compile_tls_params,
    listener_connection,
)
from dataplane.config.extauth import ExtAuthzConfig, compile_ext_authz, is_ext_authz
from dataplane.config.jwt_authn import JwtAuthnConfig, compile_jwt_authn, is_jwt_authn
from dataplane.config.l4 import (
    TCP_PROXY_FILTER,
    UDP_PROXY_FILTER,
    TcpProxySettings,
    UdpProxySettings,
    compile_tcp_proxy,
    compile_udp_proxy,
)
from dataplane.config.policy_auth import check_auth_filter, is_auth_filter
from dataplane.config.ratelimit_global import (
    RateLimitFilter,
    compile_rate_limit_filter,
    is_rate_limit_filter,
)
from dataplane.config.request_metrics import (
    RequestMetricsConfig,
    compile_request_metrics,
    is_request_metrics_filter,
)
from dataplane.config.route import CORS_FILTER, locate, websocket_setting
from dataplane.config.session import STATEFUL_SESSION_FILTER, check_session_filter
from dataplane.config.support import check_fields
from dataplane.config.tls_context import TLS_TRANSPORT, Validation, compile_validation
from dataplane.config.tracing import TracingConfig, compile_tracing
from dataplane.config.traffic import TRAFFIC_FILTERS, check_traffic_filter
from dataplane.config.values import data_source_bytes, seconds
from dataplane.errors import ConfigRejected, InvalidConfig, UnsupportedField, UnsupportedValue

HCM_FILTER = "envoy.filters.network.http_connection_manager"
# Streams a client may open at once on one HTTP/2 connection (Envoy: unlimited).
DOWNSTREAM_HTTP2 = Http2Options(max_concurrent_streams=256)
# Envoy's listener_filters_timeout default: how long a client may take to send its ClientHello.
DEFAULT_INSPECTION_TIMEOUT = 15.0


class ServerHeader(IntEnum):
    OVERWRITE = 0
    APPEND_IF_ABSENT = 1
    PASS_THROUGH = 2


class HostPortStrip(IntEnum):
    NONE = 0
    ANY = 1
    MATCHING = 2


class CodecType(IntEnum):
    """The connection manager's ``codec_type``: AUTO detects HTTP/2 by ALPN or its preface."""

    AUTO = 0
    HTTP1 = 1
    HTTP2 = 2


@dataclass(frozen=True, slots=True)
class HttpSettings:
    """What the HttpConnectionManager of one filter chain asks of the HTTP codec."""

    route_config: str
    stat_prefix: str = ""
    use_remote_address: bool = False
    skip_xff_append: bool = False
    server_name: bytes = b"agw"
    server_header: ServerHeader = ServerHeader.OVERWRITE
    max_request_headers_bytes: int = 60 * 1024
    max_headers_count: int = 100
    request_headers_timeout: float = 60.0
    idle_timeout: float = 3600.0
    stream_idle_timeout: float = 300.0
    drain_timeout: float = 5.0
    websocket: bool = False
    normalize_path: bool = False
    merge_slashes: bool = False
    strip_host_port: HostPortStrip = HostPortStrip.NONE
    generate_request_id: bool = True
    accept_http_10: bool = False
    # Access-log targets: "-" is stdout, anything else a file path.
    access_logs: tuple[str, ...] = ()
    # The first access log's filter and line shape, when it has one.
    access_log_shape: AccessLogShape | None = None
    codec: CodecType = CodecType.AUTO
    http2: Http2Options = DOWNSTREAM_HTTP2
    # The cors filter is in the chain: routes' CorsPolicy configs take effect.
    cors: bool = False
    # ext_authz filters in chain order.
    ext_authz: tuple[ExtAuthzConfig, ...] = ()
    # agw's own authorization/transformation filters in the chain (dataplane.policy_auth).
    auth_filters: frozenset[str] = frozenset()
    jwt_authn: JwtAuthnConfig | None = None
    # ratelimit filters (global rate limits) in chain order.
    rate_limits: tuple[RateLimitFilter, ...] = ()
    # agw's request-metrics filter (AgentgatewayPolicy frontend.metrics), when in the chain.
    request_metrics: RequestMetricsConfig | None = None
    # OpenTelemetry tracing (AgentgatewayPolicy frontend.tracing), when configured.
    tracing: TracingConfig | None = None

    @property
    def rewrites_request_head(self) -> bool:
        return bool(self.strip_host_port or self.normalize_path or self.merge_slashes)


@dataclass(frozen=True, slots=True)
class DownstreamTls:
    # SDS secret names (resolved by the runtime config) and inline certificates.
    secret_names: tuple[str, ...]
    inline_certificates: tuple[tuple[bytes, bytes], ...]
    alpn: tuple[str, ...]
    # Client-certificate validation (its CA may be an SDS name the runtime config resolves).
    client_validation: Validation | None = None
    require_client_certificate: bool = False
    params: TlsParams | None = None

    @property
    def client_ca_secret(self) -> str | None:
        validation = self.client_validation
        return validation.ca_secret if validation is not None else None


@dataclass(frozen=True, slots=True)
class FilterChainConfig:
    name: str
    server_names: tuple[str, ...]
    http: HttpSettings
    tls: DownstreamTls | None = None


@dataclass(frozen=True, slots=True)
class TcpChainConfig:
    """A filter chain whose only network filter is tcp_proxy: passthrough, or TLS terminate
    when ``tls`` is set."""

    name: str
    server_names: tuple[str, ...]
    proxy: TcpProxySettings
    tls: DownstreamTls | None = None


@dataclass(frozen=True, slots=True)
class ListenerConfig:
    name: str
    host: str
    port: int
    # The HttpConnectionManager chains; ``tcp_chains`` holds the tcp_proxy ones.
    filter_chains: tuple[FilterChainConfig, ...]
    buffer_limit: int = 1 << 20
    tcp_chains: tuple[TcpChainConfig, ...] = ()
    # The tls_inspector listener filter is configured: SNI selects the chain.
    inspects_tls: bool = False
    inspection_timeout: float = DEFAULT_INSPECTION_TIMEOUT
    # Set on a UDP listener (which has no filter chains).
    udp: UdpProxySettings | None = None
    # Keepalive and TLS handshake deadline (dataplane.config.connection).
    connection: ListenerConnection = NO_CONNECTION_SETTINGS

    @property
    def is_tls(self) -> bool:
        chains: tuple[FilterChainConfig | TcpChainConfig, ...] = (
            *self.filter_chains,
            *self.tcp_chains,
        )
        return any(chain.tls is not None for chain in chains)

    @property
    def carries_streams(self) -> bool:
        """Connections are accepted by the stream acceptor (peek, then pick a chain)."""
        return bool(self.tcp_chains) or self.connection.proxy_protocol is not None


def compile_listener(listener: Any) -> tuple[ListenerConfig, dict[str, Any]]:
    """The listener plus the inline RouteConfigurations its connection managers carry."""
    where = f"Listener {listener.name!r}"
    check_fields(listener, where=where)
    address = listener.address.socket_address
    if not address.address:
        raise InvalidConfig(f"{where}: a socket_address is required")
    if address.protocol == address.UDP:
        return _udp_listener(listener, where), {}
    inline_routes: dict[str, Any] = {}
    try:
        for listener_filter in listener.listener_filters:
            if listener_filter.name == PROXY_PROTOCOL_FILTER:
                continue  # dataplane.config.connection reads it
            _unpack(
                listener_filter.typed_config, tls_inspector_pb2.TlsInspector(), "ListenerFilter"
            )
        chains = [_filter_chain(chain, inline_routes) for chain in listener.filter_chains]
    except ConfigRejected as exc:
        raise locate(exc, where) from None
    if not chains:
        raise InvalidConfig(f"{where}: at least one filter chain is required")
    http_chains = tuple(c for c in chains if isinstance(c, FilterChainConfig))
    if len({chain.tls is None for chain in http_chains}) > 1:
        raise UnsupportedValue("Listener.filter_chains (TLS and plaintext mixed)", "", where)
    config = ListenerConfig(
        name=listener.name,
        host=address.address,
        port=address.port_value,
        filter_chains=http_chains,
        buffer_limit=(
            listener.per_connection_buffer_limit_bytes.value
            if listener.HasField("per_connection_buffer_limit_bytes")
            else 1 << 20
        ),
        tcp_chains=tuple(c for c in chains if isinstance(c, TcpChainConfig)),
        inspects_tls=any(f.name != PROXY_PROTOCOL_FILTER for f in listener.listener_filters),
        inspection_timeout=(
            seconds(listener.listener_filters_timeout)
            if listener.HasField("listener_filters_timeout")
            else DEFAULT_INSPECTION_TIMEOUT
        ),
        connection=listener_connection(listener, where),
    )
    return config, inline_routes


def _udp_listener(listener: Any, where: str) -> ListenerConfig:
    if listener.filter_chains:
        raise UnsupportedField("Listener.filter_chains (on a UDP listener)", where)
    filters = listener.listener_filters
    if len(filters) != 1 or filters[0].name != UDP_PROXY_FILTER:
        names = [f.name for f in filters]
        raise UnsupportedValue(
            "Listener.listener_filters (UDP: exactly one udp_proxy)", names, where
        )
    try:
        settings = compile_udp_proxy(filters[0].typed_config)
    except ConfigRejected as exc:
        raise locate(exc, where) from None
    address = listener.address.socket_address
    return ListenerConfig(
        name=listener.name,
        host=address.address,
        port=address.port_value,
        filter_chains=(),
        udp=settings,
    )


def _unpack(any_message: Any, target: Any, path: str) -> Any:
    if not any_message.Unpack(target):
        raise UnsupportedValue(f"{path}.typed_config", any_message.type_url)
    check_fields(target)
    return target


def _filter_chain(chain: Any, inline_routes: dict[str, Any]) -> FilterChainConfig | TcpChainConfig:
    match = chain.filter_chain_match
    if match.transport_protocol not in ("", "tls", "raw_buffer"):
        raise UnsupportedValue("FilterChainMatch.transport_protocol", match.transport_protocol)
    if len(chain.filters) != 1 or chain.filters[0].name not in (HCM_FILTER, TCP_PROXY_FILTER):
        names = [f.name for f in chain.filters]
        raise UnsupportedValue(
            "FilterChain.filters (one HttpConnectionManager or one TcpProxy)", names
        )
    tls = _downstream_tls(chain.transport_socket) if chain.HasField("transport_socket") else None
    server_names = tuple(name.lower() for name in match.server_names)
    if chain.filters[0].name == TCP_PROXY_FILTER:
        proxy = compile_tcp_proxy(chain.filters[0].typed_config)
        return TcpChainConfig(chain.name, server_names, proxy, tls)
    manager = _unpack(chain.filters[0].typed_config, hcm_pb2.HttpConnectionManager(), "Filter")
    http = _http_settings(manager, inline_routes)
    return FilterChainConfig(
        name=chain.name,
        server_names=server_names,
        http=http,
        tls=_served_alpn(tls, http.codec) if tls is not None else None,
    )


def _downstream_tls(socket: Any) -> DownstreamTls:
    if socket.name != TLS_TRANSPORT:
        raise UnsupportedValue("FilterChain.transport_socket.name", socket.name)
    context = _unpack(socket.typed_config, tls_pb2.DownstreamTlsContext(), "TransportSocket")
    common = context.common_tls_context
    inline = tuple(
        (data_source_bytes(cert.certificate_chain), data_source_bytes(cert.private_key))
        for cert in common.tls_certificates
    )
    names = tuple(config.name for config in common.tls_certificate_sds_secret_configs)
    if not inline and not names:
        raise InvalidConfig("DownstreamTlsContext: a certificate is required")
    validation = compile_validation(common)
    required = context.require_client_certificate.value
    if validation is not None:
        if validation.ca_file is not None:
            raise UnsupportedField("DownstreamTlsContext...trusted_ca.filename")
        if validation.subject_alt_names:
            raise UnsupportedField("DownstreamTlsContext...match_typed_subject_alt_names")
        if required and validation.accept_untrusted:
            raise UnsupportedValue(
                "DownstreamTlsContext.require_client_certificate (with ACCEPT_UNTRUSTED)", True
            )
    elif required:
        raise InvalidConfig("DownstreamTlsContext: require_client_certificate needs a CA")
    return DownstreamTls(
        names,
        inline,
        tuple(common.alpn_protocols),
        client_validation=validation,
        require_client_certificate=required,
        params=compile_tls_params(common),
    )


def _served_alpn(tls: DownstreamTls, codec: CodecType) -> DownstreamTls:
    """Offer only the protocols the connection manager's codec serves."""
    excluded = {CodecType.HTTP1: "h2", CodecType.HTTP2: "http/1.1"}.get(codec)
    if excluded is None or excluded not in tls.alpn:
        return tls
    alpn = tuple(protocol for protocol in tls.alpn if protocol != excluded)
    return dataclasses.replace(tls, alpn=alpn)


def _http_settings(manager: Any, inline_routes: dict[str, Any]) -> HttpSettings:
    if manager.HasField("route_config"):
        route_config = manager.route_config.name
        inline_routes[route_config] = manager.route_config
    elif manager.HasField("rds"):
        route_config = manager.rds.route_config_name
    else:
        raise InvalidConfig("HttpConnectionManager: rds or route_config is required")
    cors = _check_http_filters(manager.http_filters)
    common = manager.common_http_protocol_options
    defaults = HttpSettings(route_config)
    strip = HostPortStrip.NONE
    if manager.strip_any_host_port:
        strip = HostPortStrip.ANY
    elif manager.strip_matching_host_port:
        strip = HostPortStrip.MATCHING

    def duration(message: Any, field: str, default: float) -> float:
        return seconds(getattr(message, field)) if message.HasField(field) else default

    return HttpSettings(
        route_config=route_config,
        stat_prefix=manager.stat_prefix,
        use_remote_address=manager.use_remote_address.value,
        skip_xff_append=manager.skip_xff_append,
        server_name=manager.server_name.encode() or defaults.server_name,
        server_header=ServerHeader(manager.server_header_transformation),
        max_request_headers_bytes=(
            manager.max_request_headers_kb.value * 1024
            if manager.HasField("max_request_headers_kb")
            else defaults.max_request_headers_bytes
        ),
        max_headers_count=(
            common.max_headers_count.value
            if common.HasField("max_headers_count")
            else defaults.max_headers_count
        ),
        request_headers_timeout=duration(
            manager, "request_headers_timeout", defaults.request_headers_timeout
        ),
        idle_timeout=duration(common, "idle_timeout", defaults.idle_timeout),
        stream_idle_timeout=duration(manager, "stream_idle_timeout", defaults.stream_idle_timeout),
        drain_timeout=duration(manager, "drain_timeout", defaults.drain_timeout),
        websocket=bool(websocket_setting(manager.upgrade_configs, "HttpConnectionManager")),
        normalize_path=manager.normalize_path.value,
        merge_slashes=manager.merge_slashes,
        strip_host_port=strip,
        generate_request_id=(
            manager.generate_request_id.value if manager.HasField("generate_request_id") else True
        ),
        accept_http_10=manager.http_protocol_options.accept_http_10,
        access_logs=tuple(_access_log(entry) for entry in manager.access_log),
        access_log_shape=(
            compile_access_log_shape(manager.access_log[0]) if manager.access_log else None
        ),
        codec=CodecType(manager.codec_type),
        http2=http2_options(manager.http2_protocol_options, defaults.http2),
        cors=cors,
        ext_authz=tuple(compile_ext_authz(f) for f in manager.http_filters if is_ext_authz(f)),
        jwt_authn=next(
            (compile_jwt_authn(f) for f in manager.http_filters if is_jwt_authn(f)), None
        ),
        auth_filters=frozenset(
            check_auth_filter(f) for f in manager.http_filters if is_auth_filter(f)
        ),
        rate_limits=tuple(
            compile_rate_limit_filter(f) for f in manager.http_filters if is_rate_limit_filter(f)
        ),
        request_metrics=next(
            (
                compile_request_metrics(f)
                for f in manager.http_filters
                if is_request_metrics_filter(f)
            ),
            None,
        ),
        tracing=compile_tracing(manager.tracing) if manager.HasField("tracing") else None,
    )


def _check_http_filters(filters: Any) -> bool:
    """Check the filter list; True when the cors filter is in it."""
    names = [f.name for f in filters]
    if not names or names[-1] != "envoy.filters.http.router":
        raise InvalidConfig("HttpConnectionManager.http_filters must end with the router")
    cors = False
    for http_filter in filters[:-1]:
        if http_filter.name == CORS_FILTER:
            cors = True
            if http_filter.HasField("typed_config"):
                _unpack(http_filter.typed_config, cors_pb2.Cors(), "HttpFilter")
            continue
        if is_ext_authz(http_filter):
            continue  # compiled by compile_ext_authz
        if is_rate_limit_filter(http_filter):
            continue  # compiled by compile_rate_limit_filter
        if http_filter.name in TRAFFIC_FILTERS:
            check_traffic_filter(http_filter)
            continue  # routes bring their settings
        if is_auth_filter(http_filter):
            continue  # checked by check_auth_filter
        if is_request_metrics_filter(http_filter):
            continue  # compiled by compile_request_metrics
        if http_filter.name == STATEFUL_SESSION_FILTER:
            check_session_filter(http_filter.typed_config)
            continue  # routes turn sessions on
        if http_filter.name != "envoy.filters.http.fault":
            raise UnsupportedValue("HttpConnectionManager.http_filters", http_filter.name)
        if http_filter.HasField("typed_config"):
            fault = _unpack(http_filter.typed_config, fault_pb2.HTTPFault(), "HttpFilter")
            if fault.ListFields():
                raise UnsupportedField("HTTPFault (configured on the connection manager)")
    if filters[-1].HasField("typed_config"):
        _unpack(filters[-1].typed_config, router_pb2.Router(), "HttpFilter")
    return cors


def _access_log(entry: Any) -> str:
    check_fields(entry, "AccessLog")
    assert isinstance(entry, accesslog_pb2.AccessLog)
    if entry.typed_config.Is(stream_pb2.StdoutAccessLog.DESCRIPTOR):
        _unpack(entry.typed_config, stream_pb2.StdoutAccessLog(), "AccessLog")
        return "-"
    file_log = _unpack(entry.typed_config, file_pb2.FileAccessLog(), "AccessLog")
    if not file_log.path:
        raise InvalidConfig("FileAccessLog.path is required")
    return str(file_log.path)
