"""Connection-level settings the proxy honours beyond the basics: TCP keepalive (a cluster's
``upstream_connection_options.tcp_keepalive``, a listener's keepalive ``socket_options``) and
the TLS parameters of a DownstreamTlsContext (protocol versions, cipher suites)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

from envoy.extensions.filters.listener.proxy_protocol.v3 import proxy_protocol_pb2

from dataplane.config.support import check_fields
from dataplane.config.values import seconds
from dataplane.errors import UnsupportedValue

PROXY_PROTOCOL_FILTER = "envoy.filters.listener.proxy_protocol"

# Linux option numbers, as Envoy's SocketOption carries them: (level, name).
SO_KEEPALIVE = (1, 9)
TCP_KEEPIDLE = (6, 4)
TCP_KEEPINTVL = (6, 5)
TCP_KEEPCNT = (6, 6)
_KEEPALIVE_OPTIONS = {SO_KEEPALIVE, TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT}
# SocketOption.SocketState: options on the listening socket, inherited by accepted ones.
_STATE_NAMES = {0: "STATE_PREBIND", 1: "STATE_BOUND", 2: "STATE_LISTENING"}


@dataclass(frozen=True, slots=True)
class Keepalive:
    """Keepalive probing; None leaves the kernel's default."""

    probes: int | None = None
    idle: int | None = None
    interval: int | None = None


@dataclass(frozen=True, slots=True)
class TlsParams:
    """Protocol versions as "1.2"/"1.3" (None: the proxy's default) and OpenSSL cipher names."""

    min_version: str | None = None
    max_version: str | None = None
    cipher_suites: tuple[str, ...] = ()


class ProxyMode(Enum):
    """A PROXY protocol header is required, or read when present."""

    REQUIRED = "required"
    OPTIONAL = "optional"


@dataclass(frozen=True, slots=True)
class ListenerConnection:
    """Keepalive on accepted connections, the TLS handshake deadline (None: the default;
    Envoy sets it per chain as ``transport_socket_connect_timeout``, agw per listener) and
    the PROXY protocol listener filter."""

    keepalive: Keepalive | None = None
    handshake_timeout: float | None = None
    proxy_protocol: ProxyMode | None = None


def listener_connection(listener: Any, where: str) -> ListenerConnection:
    timeouts = [
        seconds(chain.transport_socket_connect_timeout)
        for chain in listener.filter_chains
        if chain.HasField("transport_socket_connect_timeout")
    ]
    return ListenerConnection(
        keepalive=compile_listener_keepalive(listener.socket_options, where),
        handshake_timeout=min(timeouts) if timeouts else None,
        proxy_protocol=compile_proxy_protocol(listener.listener_filters, where),
    )


def compile_proxy_protocol(listener_filters: Any, where: str) -> ProxyMode | None:
    """The proxy_protocol listener filter's mode; it must come before any other filter, as
    the header precedes everything else on the connection."""
    for index, listener_filter in enumerate(listener_filters):
        if listener_filter.name != PROXY_PROTOCOL_FILTER:
            continue
        if index != 0:
            raise UnsupportedValue("Listener.listener_filters", "proxy_protocol not first", where)
        config = proxy_protocol_pb2.ProxyProtocol()
        if not listener_filter.typed_config.Unpack(config):
            raise UnsupportedValue(
                "ListenerFilter.typed_config", listener_filter.typed_config.type_url, where
            )
        check_fields(config, where=where)
        optional = config.allow_requests_without_proxy_protocol
        return ProxyMode.OPTIONAL if optional else ProxyMode.REQUIRED
    return None


NO_CONNECTION_SETTINGS = ListenerConnection()
_TLS_VERSIONS = {0: None, 3: "1.2", 4: "1.3"}  # TLS_AUTO, TLSv1_2, TLSv1_3


def compile_cluster_keepalive(cluster: Any) -> Keepalive | None:
    if not cluster.HasField("upstream_connection_options"):
        return None
    options = cluster.upstream_connection_options
    if not options.HasField("tcp_keepalive"):
        return None
    keepalive = options.tcp_keepalive

    def value(field: str) -> int | None:
        return int(getattr(keepalive, field).value) if keepalive.HasField(field) else None

    return Keepalive(
        value("keepalive_probes"), value("keepalive_time"), value("keepalive_interval")
    )


def compile_listener_keepalive(options: Any, where: str) -> Keepalive | None:
    """Listener ``socket_options``: only the keepalive ones, as agw emits them."""
    if not options:
        return None
    found: dict[tuple[int, int], int] = {}
    for option in options:
        key = (option.level, option.name)
        if key not in _KEEPALIVE_OPTIONS or option.WhichOneof("value") != "int_value":
            raise UnsupportedValue("Listener.socket_options", f"{key} (keepalive only)", where)
        found[key] = option.int_value
    if found.get(SO_KEEPALIVE) != 1:
        raise UnsupportedValue("Listener.socket_options", "keepalive options without SO_KEEPALIVE")
    return Keepalive(found.get(TCP_KEEPCNT), found.get(TCP_KEEPIDLE), found.get(TCP_KEEPINTVL))


def compile_tls_params(common: Any) -> TlsParams | None:
    if not common.HasField("tls_params"):
        return None
    params = common.tls_params
    versions = []
    for field in ("tls_minimum_protocol_version", "tls_maximum_protocol_version"):
        number = getattr(params, field)
        if number not in _TLS_VERSIONS:
            raise UnsupportedValue(f"TlsParameters.{field}", number, "TLS 1.2 and 1.3 only")
        versions.append(_TLS_VERSIONS[number])
    return TlsParams(versions[0], versions[1], tuple(params.cipher_suites))
