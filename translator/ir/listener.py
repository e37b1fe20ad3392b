"""Listener IR: one listener per (gateway, port), filter chains chosen by SNI."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ListenerProtocol(StrEnum):
    HTTP = "HTTP"
    HTTPS = "HTTPS"
    TLS = "TLS"
    TCP = "TCP"
    UDP = "UDP"


@dataclass(frozen=True, slots=True)
class DownstreamTls:
    """TLS termination: certificates by SDS secret name; the data plane picks by SNI."""

    certificate_secrets: tuple[str, ...]
    alpn_protocols: tuple[str, ...] = ("h2", "http/1.1")


@dataclass(frozen=True, slots=True)
class HttpFilterChain:
    name: str
    # SNI names this chain serves; empty means any (the catch-all chain).
    server_names: tuple[str, ...]
    route_config: str
    tls: DownstreamTls | None = None


@dataclass(frozen=True, slots=True)
class Listener:
    name: str
    address: str
    port: int
    protocol: ListenerProtocol
    filter_chains: tuple[HttpFilterChain, ...]
