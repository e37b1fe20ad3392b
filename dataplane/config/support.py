"""The subset of Envoy's xDS API the agw proxy implements, as data.

Every message the compiler reads is listed with the fields it honours. ``check_fields`` walks a
message with ``ListFields()`` and raises ``UnsupportedField`` for anything set that is not listed,
so an unimplemented field is a NACK with a clear reason, never silently ignored. The same table
generates ``docs/supported-envoy-api.md`` (``tools/gen_supported_api.py``).

Message-typed fields whose type is listed here are checked recursively; other message types
(``Duration``, wrappers, ``FractionalPercent``, ``Metadata``) are leaves. ``Any`` payloads are
unpacked and checked by the compiler, which knows which type URLs it accepts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from dataplane.errors import UnsupportedField, UnsupportedValue


@dataclass(frozen=True, slots=True)
class FieldSupport:
    name: str
    note: str = ""
    # For enum fields: the member names implemented; None means any member.
    values: frozenset[str] | None = None


@dataclass(frozen=True, slots=True)
class MessageSupport:
    message: str
    fields: tuple[FieldSupport, ...]
    note: str = ""

    @property
    def short_name(self) -> str:
        return self.message.rsplit(".", 1)[-1]


def _f(name: str, note: str = "", values: Iterable[str] | None = None) -> FieldSupport:
    return FieldSupport(name, note, frozenset(values) if values is not None else None)


_L = "envoy.config.listener.v3."
_C = "envoy.config.core.v3."
_R = "envoy.config.route.v3."
_CL = "envoy.config.cluster.v3."
_E = "envoy.config.endpoint.v3."
_M = "envoy.type.matcher.v3."
_HCM = "envoy.extensions.filters.network.http_connection_manager.v3."
_TLS = "envoy.extensions.transport_sockets.tls.v3."

_HEADER_MUTATIONS = (
    _f("request_headers_to_add"),
    _f("request_headers_to_remove"),
    _f("response_headers_to_add"),
    _f("response_headers_to_remove"),
)

_AUTHZ = "envoy.extensions.filters.http.ext_authz.v3."
EXT_AUTHZ_SUPPORT = (
    MessageSupport(
        _AUTHZ + "ExtAuthz",
        (
            _f("grpc_service", "envoy_grpc: Authorization/Check over cleartext HTTP/2"),
            _f("http_service"),
            _f("transport_api_version", values=("V3",)),
            _f("failure_mode_allow"),
            _f("status_on_error", "default 403"),
            _f("allowed_headers", "gRPC: only these; HTTP: these and Envoy's defaults"),
            _f("with_request_body"),
        ),
        "a 200 (HTTP) or OK (gRPC) answer lets the request through",
    ),
    MessageSupport(_C + "GrpcService", (_f("envoy_grpc"), _f("timeout", "default 200ms"))),
    MessageSupport(_C + "GrpcService.EnvoyGrpc", (_f("cluster_name"),)),
    MessageSupport(
        _AUTHZ + "HttpService",
        (_f("server_uri"), _f("path_prefix"), _f("authorization_response")),
    ),
    MessageSupport(
        _C + "HttpUri",
        (
            _f("uri", "ext_authz: informational; others: its path and host"),
            _f("cluster"),
            _f("timeout"),
        ),
    ),
    MessageSupport(_AUTHZ + "AuthorizationResponse", (_f("allowed_upstream_headers"),)),
    MessageSupport(_M + "ListStringMatcher", (_f("patterns"),)),
    MessageSupport(
        _AUTHZ + "BufferSettings",
        (_f("max_request_bytes"), _f("allow_partial_message", "false: a longer body answers 413")),
    ),
    MessageSupport(_AUTHZ + "ExtAuthzPerRoute", (_f("disabled"), _f("check_settings"))),
    MessageSupport(
        _AUTHZ + "CheckSettings",
        (_f("context_extensions"),),
        "turns the filter on for the route, with the context extensions it sends",
    ),
)

_RL = "envoy.extensions.filters.http.ratelimit.v3."
_ACTION = _R + "RateLimit.Action."
GLOBAL_RATE_LIMIT_SUPPORT = (
    MessageSupport(
        _RL + "RateLimit",
        (
            _f("domain"),
            _f("timeout", "default 20ms"),
            _f("failure_mode_deny", "500 when the service cannot answer"),
            _f("rate_limit_service"),
        ),
        "disabled on the connection manager; routes turn it on with RateLimitPerRoute",
    ),
    MessageSupport(
        "envoy.config.ratelimit.v3.RateLimitServiceConfig",
        (
            _f("grpc_service", "envoy_grpc: ShouldRateLimit over cleartext HTTP/2"),
            _f("transport_api_version", values=("V3",)),
        ),
    ),
    MessageSupport(_RL + "RateLimitPerRoute", (_f("rate_limits"),)),
    MessageSupport(_R + "RateLimit", (_f("actions"),), "one descriptor per RateLimit"),
    MessageSupport(
        _R + "RateLimit.Action",
        (
            _f("request_headers"),
            _f("remote_address"),
            _f("generic_key"),
            _f("header_value_match"),
            _f("extension", "agw.filters.v1alpha1.CelDescriptorEntry: a CEL entry"),
        ),
    ),
    MessageSupport(_ACTION + "RequestHeaders", (_f("header_name"), _f("descriptor_key"))),
    MessageSupport(_ACTION + "RemoteAddress", ()),
    MessageSupport(_ACTION + "GenericKey", (_f("descriptor_key"), _f("descriptor_value"))),
    MessageSupport(
        _ACTION + "HeaderValueMatch",
        (
            _f("descriptor_key"),
            _f("descriptor_value"),
            _f("expect_match", "true only"),
            _f("headers"),
        ),
    ),
)

_SESSION = "envoy.extensions.filters.http.stateful_session.v3."
_SESSION_STATE = "envoy.extensions.http.stateful_session."
SESSION_SUPPORT = (
    MessageSupport(_SESSION + "StatefulSession", (_f("session_state", "per route only"),)),
    MessageSupport(_SESSION + "StatefulSessionPerRoute", (_f("disabled"), _f("stateful_session"))),
    MessageSupport(_C + "TypedExtensionConfig", (_f("name"), _f("typed_config"))),
    MessageSupport(_SESSION_STATE + "cookie.v3.CookieBasedSessionState", (_f("cookie"),)),
    MessageSupport(
        "envoy.type.http.v3.Cookie",
        (_f("name"), _f("path", "default /"), _f("ttl", "Max-Age, and the session's end")),
        'Set-Cookie: name="token"; Max-Age; Path; HttpOnly, as Envoy writes it',
    ),
    MessageSupport(_SESSION_STATE + "header.v3.HeaderBasedSessionState", (_f("name"),)),
)

_TRACE = "envoy.config.trace.v3."
_TAG = "envoy.type.tracing.v3.CustomTag"
TRACING_SUPPORT = (
    MessageSupport(
        _HCM + "HttpConnectionManager.Tracing",
        (
            _f("random_sampling", "default 100%: requests without a sampled traceparent"),
            _f("client_sampling", "default 100%: requests whose traceparent says sampled"),
            _f("custom_tags", "span attributes, computed when the request ends"),
            _f("provider", "envoy.tracers.opentelemetry"),
        ),
        "one SERVER span per request; W3C traceparent in and out, tracestate passed on",
    ),
    MessageSupport(_TRACE + "Tracing.Http", (_f("name"), _f("typed_config"))),
    MessageSupport(
        _TRACE + "OpenTelemetryConfig",
        (
            _f("grpc_service", "envoy_grpc: TraceService/Export over cleartext HTTP/2"),
            _f("http_service", "OTLP/HTTP protobuf POST to the uri's path"),
            _f("service_name"),
            _f(
                "sampler",
                "agw.tracers.opentelemetry.samplers.cel (CelSampler), or Envoy's "
                "trace_id_ratio_based, alone or wrapped by parent_based",
            ),
        ),
        "batches of up to 512 spans at least every second; 2048 queued per worker at most",
    ),
    MessageSupport(
        "envoy.extensions.tracers.opentelemetry.samplers.v3.ParentBasedSamplerConfig",
        (_f("wrapped_sampler", "trace_id_ratio_based only"),),
        "a sampled or unsampled parent is followed; the wrapped sampler decides new traces",
    ),
    MessageSupport(
        "envoy.extensions.tracers.opentelemetry.samplers.v3.TraceIdRatioBasedSamplerConfig",
        (_f("sampling_percentage"),),
        "by the trace id's low 64 bits; a parent's unsampled flag is still honoured",
    ),
    MessageSupport(_C + "HttpService", (_f("http_uri"),)),
    MessageSupport(
        "agw.filters.v1alpha1.CelSampler",
        (
            _f("random_sampling", "CEL: a probability or a boolean; an error samples nothing"),
            _f("client_sampling", "CEL, for requests whose traceparent says sampled"),
        ),
    ),
    MessageSupport(
        _TAG,
        (
            _f("tag"),
            _f("literal"),
            _f("request_header"),
            _f("value", "an access-log command operator (%REQ(:METHOD)%, ...) or %CEL(expr)%"),
        ),
    ),
    MessageSupport(_TAG + ".Literal", (_f("value"),)),
    MessageSupport(_TAG + ".Header", (_f("name"), _f("default_value"))),
)

_LRL = "envoy.extensions.filters.http.local_ratelimit.v3."
TRAFFIC_POLICY_SUPPORT = (
    MessageSupport(
        _LRL + "LocalRateLimit",
        (
            _f("stat_prefix"),
            _f("token_bucket", "continuous refill; divided among the proxy's workers"),
            _f("filter_enabled", "0% or 100%"),
            _f("filter_enforced", "100%"),
            _f("enable_x_ratelimit_headers", values=("OFF", "DRAFT_VERSION_03")),
        ),
        "inert on the connection manager; per route (typed_per_filter_config) a token bucket",
    ),
    MessageSupport(
        "envoy.extensions.filters.http.csrf.v3.CsrfPolicy",
        (_f("filter_enabled", "0% or 100%"), _f("additional_origins")),
        "off on the connection manager; on per route; 403 for unsafe methods from other origins",
    ),
    MessageSupport(
        "envoy.extensions.filters.http.buffer.v3.Buffer",
        (_f("max_request_bytes", "413 above it; the body streams, counted"),),
        "disabled on the connection manager",
    ),
    MessageSupport(
        "envoy.extensions.filters.http.buffer.v3.BufferPerRoute", (_f("disabled"), _f("buffer"))
    ),
)

_BASIC_AUTH = "envoy.extensions.filters.http.basic_auth.v3."
_API_KEY = "envoy.extensions.filters.http.api_key_auth.v3."
_JWT = "envoy.extensions.filters.http.jwt_authn.v3."
AUTH_POLICY_SUPPORT = (
    MessageSupport(
        _BASIC_AUTH + "BasicAuth",
        (_f("users", "checked; the filter must be disabled: routes bring their users"),),
        "htpasswd {SHA}, bcrypt, $apr1$ and $5$/$6$ SHA-crypt entries; 401 without valid "
        "credentials",
    ),
    MessageSupport(_BASIC_AUTH + "BasicAuthPerRoute", (_f("users", "inline"),)),
    MessageSupport(_API_KEY + "ApiKeyAuth", (), "empty and disabled: routes bring their keys"),
    MessageSupport(
        _API_KEY + "ApiKeyAuthPerRoute",
        (_f("credentials"), _f("key_sources", 'header ("Bearer " stripped) or query')),
        "401 for a missing or unknown key",
    ),
    MessageSupport(_API_KEY + "Credential", (_f("key"), _f("client"))),
    MessageSupport(
        _JWT + "JwtAuthentication",
        (_f("providers"), _f("requirement_map")),
        "routes name a requirement; without one a route is not checked",
    ),
    MessageSupport(
        _JWT + "JwtProvider",
        (
            _f("issuer"),
            _f("audiences"),
            _f("local_jwks", "RSA, EC P-256/P-384, Ed25519 keys"),
            _f("forward", "must be true: the token stays on the request"),
            _f("from_headers"),
            _f("from_params"),
            _f("from_cookies"),
            _f("clock_skew_seconds"),
            _f("payload_in_metadata", "informational: the proxy gives claims to CEL as jwt"),
            _f("remote_jwks", "fetched over HTTP/1.1 in the background; fails closed meanwhile"),
        ),
        "RS256/384/512, ES256/384, EdDSA; iss, exp, nbf, aud checked",
    ),
    MessageSupport(_JWT + "JwtHeader", (_f("name"), _f("value_prefix"))),
    MessageSupport(
        _JWT + "RemoteJwks",
        (_f("http_uri", "cluster, and uri's host and path"), _f("cache_duration", "default 5m")),
        "refetched at most once a second when a token names an unknown kid",
    ),
    MessageSupport(
        _JWT + "JwtRequirement",
        (
            _f("provider_name"),
            _f("requires_any", "of provider names, allow_missing, allow_missing_or_failed"),
            _f("allow_missing"),
            _f("allow_missing_or_failed"),
        ),
    ),
    MessageSupport(_JWT + "JwtRequirementOrList", (_f("requirements"),)),
    MessageSupport(_JWT + "PerRouteConfig", (_f("disabled"), _f("requirement_name"))),
    MessageSupport(_API_KEY + "KeySource", (_f("header"), _f("query"))),
)

SUPPORTED_API: tuple[MessageSupport, ...] = (
    MessageSupport(
        _L + "Listener",
        (
            _f("name"),
            _f("address"),
            _f("filter_chains"),
            _f(
                "listener_filters",
                "envoy.filters.listener.proxy_protocol (first; v1 and v2), "
                "envoy.filters.listener.tls_inspector (TCP); "
                "envoy.filters.udp_listener.udp_proxy (UDP, exactly one)",
            ),
            _f("listener_filters_timeout", "TLS inspection deadline, default 15s"),
            _f("per_connection_buffer_limit_bytes", "write-buffer high-water mark"),
            _f("traffic_direction", "informational"),
            _f("stat_prefix", "informational"),
            _f("udp_listener_config", "required with a UDP address"),
            _f(
                "socket_options",
                "SO_KEEPALIVE with TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT only: set on the "
                "listening socket, accepted connections inherit them",
            ),
        ),
    ),
    MessageSupport(
        _C + "SocketOption",
        (_f("description"), _f("level"), _f("name"), _f("int_value"), _f("state")),
    ),
    MessageSupport(_L + "UdpListenerConfig", (), "defaults only"),
    MessageSupport(_L + "ListenerFilter", (_f("name"), _f("typed_config"))),
    MessageSupport(
        _L + "FilterChain",
        (
            _f("name"),
            _f("filter_chain_match"),
            _f(
                "filters",
                "exactly one: envoy.filters.network.http_connection_manager "
                "or envoy.filters.network.tcp_proxy",
            ),
            _f("transport_socket", "envoy.transport_sockets.tls (DownstreamTlsContext)"),
            _f("transport_socket_connect_timeout", "TLS handshake deadline; per listener"),
        ),
    ),
    MessageSupport(
        _L + "FilterChainMatch",
        (
            _f(
                "server_names",
                "exact, then the longest *.suffix, then a chain without names; chosen by the "
                "SNI the tls_inspector reads (passthrough chains included)",
            ),
            _f("transport_protocol", "raw_buffer or tls"),
        ),
    ),
    MessageSupport(_L + "Filter", (_f("name"), _f("typed_config"))),
    MessageSupport(_C + "Address", (_f("socket_address"),)),
    MessageSupport(
        _C + "SocketAddress",
        (_f("address"), _f("port_value"), _f("protocol", values=("TCP", "UDP"))),
    ),
    MessageSupport(
        "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
        (
            _f("stat_prefix"),
            _f("cluster", "a cluster without endpoints closes the connection at once"),
            _f("weighted_clusters", "smooth weighted round robin per connection"),
            _f("idle_timeout", "default 1h; 0 disables"),
            _f(
                "max_connect_attempts",
                "default 1; each further attempt goes to the next endpoint the balancer picks",
            ),
        ),
        "byte splicing with backpressure and half-close; TLS passthrough by SNI or, with a "
        "DownstreamTlsContext on the chain, TLS termination",
    ),
    MessageSupport(
        "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy.WeightedCluster",
        (_f("clusters"),),
    ),
    MessageSupport(
        "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy.WeightedCluster.ClusterWeight",
        (_f("name"), _f("weight")),
    ),
    MessageSupport(
        "envoy.extensions.filters.udp.udp_proxy.v3.UdpProxyConfig",
        (
            _f("stat_prefix"),
            _f("cluster", "deprecated form of a Route in matcher.on_no_match"),
            _f("matcher", "on_no_match with a Route action only"),
            _f("idle_timeout", "per client session, default 60s"),
        ),
        "one session per client address, each with its own upstream socket to an endpoint "
        "chosen by weighted round robin; at most 16384 sessions per listener and worker",
    ),
    MessageSupport("envoy.extensions.filters.udp.udp_proxy.v3.Route", (_f("cluster"),)),
    MessageSupport("xds.type.matcher.v3.Matcher", (_f("on_no_match"),)),
    MessageSupport("xds.type.matcher.v3.Matcher.OnMatch", (_f("action"),)),
    MessageSupport("xds.core.v3.TypedExtensionConfig", (_f("name"), _f("typed_config"))),
    MessageSupport(
        _HCM + "HttpConnectionManager",
        (
            _f(
                "codec_type",
                "AUTO: HTTP/2 by ALPN h2 or, on cleartext, by its connection preface",
                ("AUTO", "HTTP1", "HTTP2"),
            ),
            _f("stat_prefix"),
            _f("rds"),
            _f("route_config"),
            _f(
                "http_filters",
                "envoy.filters.http.cors, envoy.filters.http.fault (abort only), inert "
                "csrf, local_ratelimit and (disabled) buffer filters, and the router, last",
            ),
            _f("use_remote_address", "append the peer to x-forwarded-for"),
            _f("skip_xff_append"),
            _f("server_name", "the server header (default agw)"),
            _f(
                "server_header_transformation",
                values=("OVERWRITE", "APPEND_IF_ABSENT", "PASS_THROUGH"),
            ),
            _f("common_http_protocol_options"),
            _f("http_protocol_options"),
            _f("http2_protocol_options", "downstream HTTP/2 settings"),
            _f("max_request_headers_kb", "431 above it (default 60)"),
            _f("request_headers_timeout", "default 60s (Envoy: disabled)"),
            _f("stream_idle_timeout", "default 300s"),
            _f("drain_timeout", "grace for connections of a removed listener"),
            _f("upgrade_configs", "websocket"),
            _f("normalize_path"),
            _f("merge_slashes"),
            _f("strip_any_host_port"),
            _f("strip_matching_host_port"),
            _f("generate_request_id", "x-request-id when absent"),
            _f("preserve_external_request_id", "request ids are always preserved"),
            _f("access_log", "stdout or file, one JSON line per request"),
            _f("tracing", "OpenTelemetry spans (OTLP over gRPC or HTTP)"),
        ),
    ),
    MessageSupport(_HCM + "Rds", (_f("config_source"), _f("route_config_name"))),
    MessageSupport(
        _HCM + "HttpFilter",
        (
            _f("name"),
            _f("typed_config"),
            _f("disabled", "ext_authz, basic_auth: on where a route says so"),
        ),
    ),
    MessageSupport(
        _HCM + "HttpConnectionManager.UpgradeConfig", (_f("upgrade_type"), _f("enabled"))
    ),
    MessageSupport(
        _C + "ConfigSource",
        (_f("ads"), _f("resource_api_version", values=("V3",)), _f("initial_fetch_timeout")),
        "only ADS",
    ),
    MessageSupport(
        _C + "HttpProtocolOptions",
        (_f("idle_timeout"), _f("max_headers_count", "431 above it (default 100)")),
    ),
    MessageSupport(
        _C + "Http1ProtocolOptions",
        (_f("accept_http_10", "otherwise HTTP/1.0 gets 426, as Envoy"),),
    ),
    MessageSupport(
        _C + "Http2ProtocolOptions",
        (
            _f("max_concurrent_streams", "default 256 downstream, 1024 per upstream connection"),
            _f("initial_stream_window_size", "default 256 KiB"),
            _f("initial_connection_window_size", "default 1 MiB"),
            _f("connection_keepalive", "client connections only (PING when idle)"),
            _f(
                "custom_settings_parameters",
                "SETTINGS_MAX_FRAME_SIZE (0x5) only, on connection managers",
            ),
        ),
        "on connection managers (downstream) and in a cluster's HttpProtocolOptions (upstream)",
    ),
    MessageSupport(_C + "KeepaliveSettings", (_f("interval"), _f("timeout"))),
    MessageSupport(
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
        (_f("explicit_http_config", "http2_protocol_options: h2c (prior knowledge)"),),
        "in Cluster.typed_extension_protocol_options",
    ),
    MessageSupport(
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions.ExplicitHttpConfig",
        (_f("http_protocol_options", "HTTP/1.1, no options"), _f("http2_protocol_options")),
    ),
    MessageSupport(
        "envoy.config.accesslog.v3.AccessLog",
        (
            _f("name"),
            _f("typed_config", "StdoutAccessLog or FileAccessLog(path)"),
            _f("filter", "the CEL extension filter only; the first access log of a chain"),
        ),
    ),
    MessageSupport("envoy.config.accesslog.v3.AccessLogFilter", (_f("extension_filter"),)),
    MessageSupport(
        "envoy.config.accesslog.v3.ExtensionFilter",
        (_f("name", "envoy.access_loggers.extension_filters.cel"), _f("typed_config")),
    ),
    MessageSupport(
        "envoy.extensions.access_loggers.filters.cel.v3.ExpressionFilter",
        (_f("expression", "agw's CEL dialect; an evaluation error logs nothing"),),
    ),
    MessageSupport("envoy.extensions.access_loggers.file.v3.FileAccessLog", (_f("path"),)),
    MessageSupport(
        "envoy.extensions.access_loggers.stream.v3.StdoutAccessLog",
        (_f("log_format", "json_format only"),),
    ),
    MessageSupport(
        _C + "SubstitutionFormatString",
        (
            _f(
                "json_format",
                "values: the operators of agw's default line (%REQ(:METHOD)%, %RESPONSE_CODE%, "
                "...) or %CEL(expr)%, left out when it fails",
            ),
            _f("formatters", "envoy.formatter.cel"),
        ),
    ),
    MessageSupport("envoy.extensions.filters.http.router.v3.Router", ()),
    MessageSupport(
        "envoy.extensions.filters.http.cors.v3.Cors",
        (),
        "policies come per route; preflights from allowed origins are answered by the proxy",
    ),
    MessageSupport(
        "envoy.extensions.filters.http.cors.v3.CorsPolicy",
        (
            _f("allow_origin_string_match"),
            _f("allow_methods"),
            _f("allow_headers"),
            _f("expose_headers"),
            _f("max_age"),
            _f("allow_credentials"),
        ),
        "Route.typed_per_filter_config; an origin it does not allow passes through untouched",
    ),
    MessageSupport("envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector", ()),
    MessageSupport(
        "envoy.extensions.filters.listener.proxy_protocol.v3.ProxyProtocol",
        (_f("allow_requests_without_proxy_protocol"),),
        "PROXY protocol v1 and v2 before TLS; the header's source is the client address",
    ),
    MessageSupport(
        "envoy.extensions.filters.http.fault.v3.HTTPFault",
        (_f("abort"),),
        "per-route or per-ClusterWeight typed_per_filter_config",
    ),
    MessageSupport(
        "envoy.extensions.filters.http.fault.v3.FaultAbort",
        (_f("http_status"), _f("percentage")),
    ),
    *EXT_AUTHZ_SUPPORT,
    *GLOBAL_RATE_LIMIT_SUPPORT,
    *TRAFFIC_POLICY_SUPPORT,
    *AUTH_POLICY_SUPPORT,
    *TRACING_SUPPORT,
    MessageSupport(
        _R + "RouteConfiguration",
        (_f("name"), _f("virtual_hosts"), *_HEADER_MUTATIONS, _f("validate_clusters")),
    ),
    MessageSupport(
        _R + "VirtualHost",
        (_f("name"), _f("domains"), _f("routes"), *_HEADER_MUTATIONS),
    ),
    MessageSupport(
        _R + "Route",
        (
            _f("name"),
            _f("match"),
            _f("route"),
            _f("redirect"),
            _f("direct_response"),
            *_HEADER_MUTATIONS,
            _f(
                "typed_per_filter_config",
                "envoy.filters.http.fault abort, envoy.filters.http.cors CorsPolicy, "
                "ExtAuthzPerRoute (by type, under the ext_authz filter's name), csrf "
                "CsrfPolicy, local_ratelimit LocalRateLimit and BufferPerRoute",
            ),
            _f("metadata", "kept for dumps"),
        ),
    ),
    MessageSupport(
        _R + "RouteMatch",
        (
            _f("prefix"),
            _f("path"),
            _f("safe_regex", "Python re, full match"),
            _f("path_separated_prefix"),
            _f("case_sensitive"),
            _f("headers"),
            _f("query_parameters"),
        ),
    ),
    MessageSupport(_M + "RegexMatcher", (_f("regex"), _f("google_re2"))),
    MessageSupport(
        _R + "HeaderMatcher",
        (
            _f("name", ":method, :authority, :path, :scheme or a header"),
            _f("string_match"),
            _f("present_match"),
            _f("invert_match"),
            _f("exact_match"),
            _f("safe_regex_match"),
            _f("prefix_match"),
            _f("suffix_match"),
            _f("contains_match"),
        ),
    ),
    MessageSupport(
        _M + "StringMatcher",
        (
            _f("exact"),
            _f("prefix"),
            _f("suffix"),
            _f("contains"),
            _f("safe_regex"),
            _f("ignore_case"),
        ),
    ),
    MessageSupport(
        _R + "QueryParameterMatcher",
        (_f("name"), _f("string_match"), _f("present_match")),
    ),
    MessageSupport(
        _R + "RouteAction",
        (
            _f("cluster"),
            _f("weighted_clusters"),
            _f("cluster_not_found_response_code"),
            _f("prefix_rewrite"),
            _f("regex_rewrite"),
            _f("host_rewrite_literal"),
            _f("timeout", "default 15s; 0 disables"),
            _f("retry_policy"),
            _f("request_mirror_policies"),
            _f("upgrade_configs", "websocket"),
        ),
    ),
    MessageSupport(_R + "RouteAction.UpgradeConfig", (_f("upgrade_type"), _f("enabled"))),
    MessageSupport(
        _R + "RouteAction.RequestMirrorPolicy",
        (_f("cluster"), _f("runtime_fraction", "default_value only")),
    ),
    MessageSupport(
        _R + "WeightedCluster",
        (_f("clusters"), _f("total_weight")),
    ),
    MessageSupport(
        _R + "WeightedCluster.ClusterWeight",
        (
            _f("name"),
            _f("weight"),
            *_HEADER_MUTATIONS,
            _f("typed_per_filter_config", "envoy.filters.http.fault abort only"),
        ),
    ),
    MessageSupport(_M + "RegexMatchAndSubstitute", (_f("pattern"), _f("substitution"))),
    MessageSupport(
        _R + "RetryPolicy",
        (
            _f(
                "retry_on",
                "5xx, gateway-error, reset, connect-failure, retriable-status-codes",
            ),
            _f("num_retries"),
            _f("per_try_timeout", "until the response headers"),
            _f("retriable_status_codes"),
            _f("retry_back_off"),
            _f("retry_options_predicates", "agw.filters.v1alpha1.RetryConditions (CEL) only"),
        ),
    ),
    MessageSupport(_R + "RetryPolicy.RetryBackOff", (_f("base_interval"), _f("max_interval"))),
    MessageSupport(
        _R + "RedirectAction",
        (
            _f("https_redirect"),
            _f("scheme_redirect"),
            _f("host_redirect"),
            _f("port_redirect"),
            _f("path_redirect"),
            _f("prefix_rewrite"),
            _f("response_code"),
            _f("strip_query"),
        ),
    ),
    MessageSupport(_R + "DirectResponseAction", (_f("status"), _f("body"))),
    MessageSupport(
        _C + "DataSource",
        (
            _f("inline_string"),
            _f("inline_bytes"),
            _f("filename", "in a cluster's CertificateValidationContext.trusted_ca only"),
        ),
    ),
    MessageSupport(
        _C + "HeaderValueOption",
        (_f("header"), _f("append"), _f("append_action"), _f("keep_empty_value")),
    ),
    MessageSupport(
        _C + "HeaderValue", (_f("key"), _f("value", "literal; %% escapes"), _f("raw_value"))
    ),
    MessageSupport(
        _CL + "Cluster",
        (
            _f("name"),
            _f("type", values=("EDS", "STATIC")),
            _f("eds_cluster_config"),
            _f("connect_timeout", "default 5s"),
            _f("lb_policy", "weighted round robin", ("ROUND_ROBIN",)),
            _f("load_assignment", "for STATIC clusters"),
            _f("outlier_detection", "connect failures, and 5xx answers with consecutive_5xx"),
            _f("circuit_breakers", "per endpoint pool"),
            _f("common_http_protocol_options"),
            _f(
                "typed_extension_protocol_options",
                "envoy.extensions.upstreams.http.v3.HttpProtocolOptions only",
            ),
            _f("per_connection_buffer_limit_bytes"),
            _f("dns_lookup_family", "endpoints are IP addresses"),
            _f(
                "transport_socket",
                "envoy.transport_sockets.tls (UpstreamTlsContext); a failed handshake or an "
                "unexpected certificate name is a connect failure (503)",
            ),
            _f("metadata", "kept for dumps"),
            _f("upstream_connection_options", "tcp_keepalive"),
        ),
    ),
    MessageSupport(_CL + "UpstreamConnectionOptions", (_f("tcp_keepalive"),)),
    MessageSupport(
        _C + "TcpKeepalive",
        (_f("keepalive_probes"), _f("keepalive_time"), _f("keepalive_interval")),
    ),
    MessageSupport(_CL + "Cluster.EdsClusterConfig", (_f("eds_config"), _f("service_name"))),
    MessageSupport(
        _CL + "OutlierDetection",
        (
            _f("consecutive_local_origin_failure", "default 1"),
            _f("base_ejection_time", "default 2s"),
            _f("max_ejection_time", "default 30s, or the base ejection time when longer"),
            _f("max_ejection_percent", "never all: panic mode uses every endpoint"),
            _f("consecutive_5xx", "5xx answers and connect failures; off unless set"),
            _f("interval", "ejections end when their time is up, not on a sweep"),
            _f("split_external_local_origin_errors"),
        ),
    ),
    MessageSupport(_CL + "CircuitBreakers", (_f("thresholds"),)),
    MessageSupport(
        _CL + "CircuitBreakers.Thresholds",
        (
            _f("priority", values=("DEFAULT",)),
            _f("max_connections"),
            _f("max_pending_requests"),
            _f("max_retries"),
            _f(
                "retry_budget",
                "GEP-3388 window and floor from the cluster's agw metadata when present",
            ),
        ),
    ),
    MessageSupport(
        _CL + "CircuitBreakers.Thresholds.RetryBudget",
        (
            _f("budget_percent", "of requests in the window (default 10 s)"),
            _f("min_retry_concurrency", "retries always allowed per second"),
        ),
        "a sliding window of requests, not Envoy's concurrent retries",
    ),
    MessageSupport(_E + "ClusterLoadAssignment", (_f("cluster_name"), _f("endpoints"))),
    MessageSupport(
        _E + "LocalityLbEndpoints",
        (_f("locality", "kept for dumps"), _f("lb_endpoints"), _f("priority", "0 only")),
    ),
    MessageSupport(
        _E + "LbEndpoint",
        (
            _f("endpoint"),
            _f("health_status", "UNHEALTHY, DRAINING and TIMEOUT endpoints get no traffic"),
            _f("load_balancing_weight"),
            _f("metadata", "kept for dumps"),
        ),
    ),
    MessageSupport(_E + "Endpoint", (_f("address"), _f("hostname"))),
    MessageSupport(
        _TLS + "DownstreamTlsContext",
        (
            _f("common_tls_context"),
            _f(
                "require_client_certificate",
                "with a CA: a client without a certificate it signed fails the handshake",
            ),
        ),
        "TLS termination with SNI certificate selection; every chain of a listener must "
        "validate clients alike (OpenSSL keeps the first context's verify mode)",
    ),
    MessageSupport(
        _TLS + "UpstreamTlsContext",
        (_f("common_tls_context"), _f("sni", "none sent when empty")),
        "TLS 1.2+ to the endpoints; ALPN as listed, or h2 for HTTP/2 clusters, else http/1.1; "
        "without a validation context any certificate is accepted, as in Envoy",
    ),
    MessageSupport(
        _TLS + "CommonTlsContext.CombinedCertificateValidationContext",
        (_f("default_validation_context"), _f("validation_context_sds_secret_config")),
    ),
    MessageSupport(
        _TLS + "CertificateValidationContext",
        (
            _f("trusted_ca", "PEM, inline or (clusters) a file such as the system bundle"),
            _f("match_typed_subject_alt_names", "upstream only; any one must match"),
            _f(
                "trust_chain_verification",
                "downstream ACCEPT_UNTRUSTED: no certificate is requested at all (the ssl "
                "module cannot accept an untrusted one), so every handshake succeeds",
                ("VERIFY_TRUST_CHAIN", "ACCEPT_UNTRUSTED"),
            ),
        ),
    ),
    MessageSupport(
        _TLS + "SubjectAltNameMatcher",
        (
            _f("san_type", values=("DNS", "URI")),
            _f("matcher", "exact only; a *. DNS name in the certificate stands for one label"),
        ),
    ),
    MessageSupport(
        _TLS + "CommonTlsContext",
        (
            _f("tls_certificates"),
            _f(
                "tls_certificate_sds_secret_configs",
                "upstream: the client certificate (mutual TLS)",
            ),
            _f("validation_context"),
            _f("combined_validation_context", "the CA from a Secret's validation_context"),
            _f("tls_params", "downstream only"),
            _f(
                "alpn_protocols",
                "HTTP chains: h2 and http/1.1, as the codec_type allows, none: http/1.1; "
                "tcp_proxy chains: offered as listed, none: no ALPN",
            ),
        ),
    ),
    MessageSupport(
        _TLS + "TlsParameters",
        (
            _f("tls_minimum_protocol_version", values=("TLS_AUTO", "TLSv1_2", "TLSv1_3")),
            _f("tls_maximum_protocol_version", values=("TLS_AUTO", "TLSv1_2", "TLSv1_3")),
            _f("cipher_suites", "OpenSSL names; TLS 1.2 suites (1.3 suites are fixed)"),
        ),
    ),
    MessageSupport(_TLS + "SdsSecretConfig", (_f("name"), _f("sds_config"))),
    MessageSupport(
        _TLS + "Secret",
        (_f("name"), _f("tls_certificate"), _f("validation_context", "trusted_ca inline only")),
    ),
    MessageSupport(_TLS + "TlsCertificate", (_f("certificate_chain"), _f("private_key"))),
    MessageSupport(_C + "TransportSocket", (_f("name"), _f("typed_config"))),
    *SESSION_SUPPORT,
)

_BY_NAME: dict[str, MessageSupport] = {m.message: m for m in SUPPORTED_API}
_FIELDS: dict[str, dict[str, FieldSupport]] = {
    m.message: {f.name: f for f in m.fields} for m in SUPPORTED_API
}


def short_name(message: Any) -> str:
    return str(message.DESCRIPTOR.name)


# Messages that start a new path in error messages, located by their name or index, so that
# errors read "Route.route.hash_policy ... (RouteConfiguration 'rc', virtual host 'v', route 3)".
_ANCHORS = {_R + "VirtualHost": "virtual host", _R + "Route": "route"}


def check_fields(
    message: Any, path: str | None = None, where: str = "", skip: frozenset[str] = frozenset()
) -> None:
    """Raise ``UnsupportedField`` for any field set in ``message`` (recursively) not listed.
    Fields named in ``skip`` are allowed without looking inside: the caller checks them."""
    full_name = message.DESCRIPTOR.full_name
    path = path or short_name(message)
    allowed = _FIELDS.get(full_name)
    if allowed is None:
        raise UnsupportedField(path, where)
    for field, value in message.ListFields():
        support = allowed.get(field.name)
        field_path = f"{path}.{field.name}"
        if support is None:
            raise UnsupportedField(field_path, where)
        if field.name in skip:
            continue
        if support.values is not None:
            _check_enum(field, value, support.values, field_path, where)
            continue
        message_type = field.message_type
        if message_type is None or message_type.full_name not in _FIELDS:
            continue
        anchor = _ANCHORS.get(message_type.full_name)
        items = value if field.is_repeated else (value,)
        for index, item in enumerate(items):
            if anchor is None:
                check_fields(item, field_path, where)
            else:
                label = repr(item.name) if item.name else str(index)
                located = f"{where}, {anchor} {label}" if where else f"{anchor} {label}"
                check_fields(item, short_name(item), located)


def _check_enum(
    field: Any, value: Any, allowed: frozenset[str], field_path: str, where: str
) -> None:
    values = value if field.is_repeated else (value,)
    for item in values:
        name = field.enum_type.values_by_number[item].name
        if name not in allowed:
            raise UnsupportedValue(field_path, name, where)
