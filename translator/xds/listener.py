"""LDS: one Envoy listener per IR listener, an HTTP connection manager per filter chain."""

from __future__ import annotations

from envoy.config.core.v3 import address_pb2, base_pb2
from envoy.config.listener.v3 import listener_components_pb2, listener_pb2
from envoy.extensions.filters.http.cors.v3 import cors_pb2
from envoy.extensions.filters.http.fault.v3 import fault_pb2
from envoy.extensions.filters.http.router.v3 import router_pb2
from envoy.extensions.filters.listener.tls_inspector.v3 import tls_inspector_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from envoy.extensions.transport_sockets.tls.v3 import common_pb2, secret_pb2, tls_pb2
from google.protobuf import wrappers_pb2
from google.protobuf.message import Message

from translator.ir import (
    DownstreamTls,
    FilterChain,
    HttpFilterChain,
    Listener,
    ListenerProtocol,
    TcpFilterChain,
    UdpFilterChain,
)
from translator.xds.errors import UnsupportedListenerProtocol
from translator.xds.extauth import build_ext_authz_filter
from translator.xds.extensions import (
    CORS_FILTER,
    FAULT_FILTER,
    HTTP_CONNECTION_MANAGER,
    ROUTER_FILTER,
    TLS_INSPECTOR,
    TLS_TRANSPORT_SOCKET,
    WEBSOCKET,
    ads_config_source,
    pack,
)
from translator.xds.l4 import build_tcp_chain, build_udp_listener
from translator.xds.policy_auth import build_auth_filters, build_transformation_filter
from translator.xds.policy_frontend import apply_frontend_connection
from translator.xds.policy_ratelimit import build_rate_limit_filters
from translator.xds.policy_traffic import build_traffic_filters
from translator.xds.session import build_stateful_session_filter


def build_listener(listener: Listener) -> Message:
    if listener.protocol is ListenerProtocol.UDP:
        return build_udp_listener(listener)
    built = listener_pb2.Listener(
        name=listener.name,
        address=address_pb2.Address(
            socket_address=address_pb2.SocketAddress(
                address=listener.address, port_value=listener.port
            ),
        ),
        filter_chains=[_filter_chain(chain) for chain in listener.filter_chains],
    )
    if any(_selects_by_sni(chain) for chain in listener.filter_chains):
        # Chains are chosen by SNI, which the inspector reads from the ClientHello.
        built.listener_filters.append(
            listener_components_pb2.ListenerFilter(
                name=TLS_INSPECTOR, typed_config=pack(tls_inspector_pb2.TlsInspector())
            )
        )
    if listener.connection is not None:
        apply_frontend_connection(built, listener.connection)
    return built


def _selects_by_sni(chain: FilterChain) -> bool:
    if isinstance(chain, UdpFilterChain):
        raise UnsupportedListenerProtocol(f"chain {chain.name!r}: a UDP chain needs a UDP listener")
    return chain.tls is not None or bool(chain.server_names)


def _filter_chain(chain: FilterChain) -> Message:
    if isinstance(chain, TcpFilterChain):
        tls = _downstream_tls(chain.tls) if chain.tls is not None else None
        return build_tcp_chain(chain, tls)
    if isinstance(chain, UdpFilterChain):
        raise UnsupportedListenerProtocol(f"chain {chain.name!r}: a UDP chain needs a UDP listener")
    built = listener_components_pb2.FilterChain(
        name=chain.name,
        filters=[
            listener_components_pb2.Filter(
                name=HTTP_CONNECTION_MANAGER, typed_config=pack(_connection_manager(chain))
            ),
        ],
    )
    if chain.tls is not None:
        if chain.server_names:
            built.filter_chain_match.server_names.extend(chain.server_names)
        built.transport_socket.CopyFrom(_downstream_tls(chain.tls))
    return built


def _connection_manager(chain: HttpFilterChain) -> Message:
    return hcm_pb2.HttpConnectionManager(
        stat_prefix=chain.name,
        # AUTO sniffs the HTTP/2 preface, so cleartext HTTP/2 with prior knowledge works.
        codec_type=hcm_pb2.HttpConnectionManager.AUTO,
        rds=hcm_pb2.Rds(route_config_name=chain.route_config, config_source=ads_config_source()),
        # Gateway API hostnames never carry ports: match "example.com:8080" as "example.com".
        strip_any_host_port=True,
        use_remote_address=_bool(True),
        http_filters=[
            # Present only where a route has a policy: preflights never reach a backend.
            *(
                [hcm_pb2.HttpFilter(name=CORS_FILTER, typed_config=pack(cors_pb2.Cors()))]
                if chain.cors
                else []
            ),
            # After CORS, so preflights are answered without asking the auth service.
            # Authentication, then agw's CEL authorization; inert except where routes use them.
            *build_auth_filters(chain),
            *(build_ext_authz_filter(ext_auth) for ext_auth in chain.ext_auths),
            # Off except on routes with a global rate limit; after authentication, as the
            # service may key limits on who the client is.
            *build_rate_limit_filters(chain.rate_limit_services),
            # agw's CEL transformation, once the request is allowed (it sees ``extauthz``).
            *build_transformation_filter(chain),
            # Inert unless a route turns it on; before the router, which picks the endpoint.
            *([build_stateful_session_filter()] if chain.session_kinds else []),
            # AgentgatewayPolicy traffic filters, inert except on routes that configure them.
            *build_traffic_filters(chain.traffic_filters),
            # Configured per route only: aborts the invalid share of a weighted backend set.
            hcm_pb2.HttpFilter(name=FAULT_FILTER, typed_config=pack(fault_pb2.HTTPFault())),
            hcm_pb2.HttpFilter(name=ROUTER_FILTER, typed_config=pack(router_pb2.Router())),
        ],
        # Off by default; routes to WebSocket backends turn it on.
        upgrade_configs=[
            hcm_pb2.HttpConnectionManager.UpgradeConfig(
                upgrade_type=WEBSOCKET, enabled=_bool(False)
            ),
        ],
    )


def _downstream_tls(tls: DownstreamTls) -> Message:
    common = tls_pb2.CommonTlsContext(
        tls_certificate_sds_secret_configs=[
            secret_pb2.SdsSecretConfig(name=name, sds_config=ads_config_source())
            for name in tls.certificate_secrets
        ],
        alpn_protocols=list(tls.alpn_protocols),
    )
    # Messages passed to a constructor are copied: finish ``common`` before building on it.
    validation = tls.client_validation
    if validation is not None:
        defaults = common_pb2.CertificateValidationContext()
        if not validation.required:
            # AllowInsecureFallback: ask for a certificate, but finish the handshake without
            # one or with one that does not verify.
            defaults.trust_chain_verification = (
                common_pb2.CertificateValidationContext.ACCEPT_UNTRUSTED
            )
        common.combined_validation_context.CopyFrom(
            tls_pb2.CommonTlsContext.CombinedCertificateValidationContext(
                default_validation_context=defaults,
                validation_context_sds_secret_config=secret_pb2.SdsSecretConfig(
                    name=validation.ca_secret, sds_config=ads_config_source()
                ),
            )
        )
    context = tls_pb2.DownstreamTlsContext(common_tls_context=common)
    if validation is not None:
        context.require_client_certificate.value = validation.required
    return base_pb2.TransportSocket(name=TLS_TRANSPORT_SOCKET, typed_config=pack(context))


def _bool(value: bool) -> Message:
    return wrappers_pb2.BoolValue(value=value)
