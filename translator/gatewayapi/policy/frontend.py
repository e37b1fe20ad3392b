"""Resolve a Gateway's AgentgatewayPolicy ``frontend`` settings into what stage 2 maps onto
Envoy fields (``ir.Listener.connection``): TLS parameters, HTTP limits, TCP keepalive, the
PROXY protocol and the access log. Every listener of the Gateway gets the same settings."""

from __future__ import annotations

import dataclasses
from typing import Any

from translator import ir
from translator.gatewayapi.policy.connection import tcp_keepalive
from translator.ir.connection import (
    AccessLogPolicy,
    CelAttribute,
    DownstreamHttp,
    DownstreamTlsParams,
    FrontendConnection,
    MetricLabel,
)
from translator.ir.policy import FrontendPolicy
from translator.model.duration import parse_duration


def fold_frontend_policy(gateway: ir.GatewayIR) -> ir.GatewayIR:
    """``gateway`` with each listener's ``connection`` set; the same object without one."""
    listeners = tuple(_listener(listener) for listener in gateway.listeners)
    if all(a is b for a, b in zip(listeners, gateway.listeners, strict=True)):
        return gateway
    return dataclasses.replace(gateway, listeners=listeners)


def _listener(listener: ir.Listener) -> ir.Listener:
    if listener.frontend is None:
        return listener
    connection = frontend_connection(listener.frontend)
    if connection == FrontendConnection():
        return listener
    return dataclasses.replace(listener, connection=connection)


def frontend_connection(policy: FrontendPolicy) -> FrontendConnection:
    tls = policy.get("tls")
    http = policy.get("http")
    tcp = policy.get("tcp")
    access_log = policy.get("accessLog")
    proxy = policy.get("proxyProtocol")
    metrics = policy.get("metrics")
    return FrontendConnection(
        tls=_tls(tls.data()) if tls is not None else None,
        http=_http(http.data()) if http is not None else None,
        keepalive=tcp_keepalive(tcp.data()["keepalive"]) if tcp is not None else None,
        access_log=_access_log(access_log.data()) if access_log is not None else None,
        proxy_protocol_required=(
            proxy.data().get("mode", "Strict") == "Strict" if proxy is not None else None
        ),
        metric_labels=_metric_labels(metrics.data()) if metrics is not None else (),
    )


def _metric_labels(settings: dict[str, Any]) -> tuple[MetricLabel, ...]:
    attributes = settings.get("attributes") or {}
    return tuple(
        MetricLabel(item["name"], item["expression"]) for item in attributes.get("add", ())
    )


def _tls(settings: dict[str, Any]) -> DownstreamTlsParams:
    timeout = settings.get("handshakeTimeout")
    return DownstreamTlsParams(
        min_version=settings.get("minProtocolVersion"),
        max_version=settings.get("maxProtocolVersion"),
        cipher_suites=tuple(settings.get("cipherSuites", ())),
        alpn_protocols=tuple(settings.get("alpnProtocols", ())),
        handshake_timeout_seconds=parse_duration(timeout) if timeout is not None else None,
    )


def _http(settings: dict[str, Any]) -> DownstreamHttp:
    idle = settings.get("http1IdleTimeout")
    return DownstreamHttp(
        max_buffer_bytes=settings.get("maxBufferSize"),
        max_headers=settings.get("http1MaxHeaders"),
        max_header_bytes=settings.get("maxHeaderBytes"),
        idle_timeout_seconds=parse_duration(idle) if idle is not None else None,
        http2_stream_window=settings.get("http2WindowSize"),
        http2_connection_window=settings.get("http2ConnectionWindowSize"),
        http2_frame_size=settings.get("http2FrameSize"),
        http2_keepalive_interval_seconds=_seconds(settings.get("http2KeepaliveInterval")),
        http2_keepalive_timeout_seconds=_seconds(settings.get("http2KeepaliveTimeout")),
    )


def _seconds(text: str | None) -> float | None:
    return parse_duration(text) if text is not None else None


def _access_log(settings: dict[str, Any]) -> AccessLogPolicy:
    attributes = settings.get("attributes") or {}
    return AccessLogPolicy(
        filter=settings.get("filter"),
        add=tuple(
            CelAttribute(item["name"], item["expression"]) for item in attributes.get("add", ())
        ),
        remove=tuple(attributes.get("remove", ())),
    )
