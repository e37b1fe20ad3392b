"""AgentgatewayPolicy backend settings stage 1 resolved onto a cluster (``keepalive``,
``outlier``), as Envoy's standard cluster fields: ``upstream_connection_options.tcp_keepalive``
and ``outlier_detection`` (consecutive 5xx, which counts connect failures too)."""

from __future__ import annotations

import math

from envoy.config.core.v3 import address_pb2
from google.protobuf import duration_pb2
from google.protobuf.message import Message

from translator.ir import Cluster
from translator.ir.connection import OutlierDetection, TcpKeepalive


def apply_backend_connection(built: Message, cluster: Cluster) -> None:
    """Set ``built`` (an Envoy Cluster) from ``cluster``'s policy-derived settings."""
    if cluster.keepalive is not None:
        built.upstream_connection_options.tcp_keepalive.CopyFrom(
            build_tcp_keepalive(cluster.keepalive)
        )
    if cluster.outlier is not None:
        _outlier_detection(built.outlier_detection, cluster.outlier)


def build_tcp_keepalive(keepalive: TcpKeepalive) -> Message:
    built = address_pb2.TcpKeepalive()
    if keepalive.probes is not None:
        built.keepalive_probes.value = keepalive.probes
    if keepalive.idle_seconds is not None:
        built.keepalive_time.value = whole_seconds(keepalive.idle_seconds)
    if keepalive.interval_seconds is not None:
        built.keepalive_interval.value = whole_seconds(keepalive.interval_seconds)
    return built


def whole_seconds(seconds: float) -> int:
    """Keepalive timers count whole seconds: round up, and never to zero."""
    return max(1, math.ceil(seconds))


def _outlier_detection(built: Message, outlier: OutlierDetection) -> None:
    built.consecutive_5xx.value = outlier.consecutive_failures
    built.interval.CopyFrom(duration(outlier.interval_seconds))
    built.base_ejection_time.CopyFrom(duration(outlier.base_ejection_seconds))
    built.max_ejection_percent.value = outlier.max_ejection_percent


def duration(seconds: float) -> Message:
    built = duration_pb2.Duration()
    built.FromNanoseconds(round(seconds * 1_000_000_000))
    return built
