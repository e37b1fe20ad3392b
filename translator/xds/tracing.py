"""A Gateway's tracing (``ir.TracingPolicy``) as the connection manager's standard ``tracing``:
Envoy's OpenTelemetry tracer exporting to the collector's cluster over OTLP/gRPC or OTLP/HTTP,
a sampler, and span attributes as custom tags whose values are command operators or
``%CEL(...)%``. Both data planes read this same config.

Sampling is the tracer's sampler alone; the connection manager's percentages stay at their
default, 100%, because Envoy samples only what both let through (measured with Envoy 1.40: a
sampled traceparent is dropped when ``random_sampling`` misses). Constant shares use Envoy's
samplers: ``parent_based`` over ``trace_id_ratio_based`` keeps sampled client traces and
starts the random share of new ones. Sampling CEL that depends on the request travels in
agw's ``CelSampler``, which only the agw proxy implements (stage 1 never leaves such CEL in a
Gateway served by Envoy)."""

from __future__ import annotations

from typing import Any

from envoy.config.core.v3 import extension_pb2, http_service_pb2, http_uri_pb2
from envoy.config.trace.v3 import http_tracer_pb2, opentelemetry_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from envoy.extensions.tracers.opentelemetry.samplers.v3 import (
    parent_based_sampler_pb2,
    trace_id_ratio_based_sampler_pb2,
)
from envoy.type.tracing.v3 import custom_tag_pb2
from envoy.type.v3 import percent_pb2

from agwproto.agw.filters.v1alpha1 import tracing_pb2
from translator.ir.connection import Sampling, TracingPolicy
from translator.xds.extensions import pack
from translator.xds.policy_backend import duration

OPENTELEMETRY_TRACER = "envoy.tracers.opentelemetry"
CEL_SAMPLER = "agw.tracers.opentelemetry.samplers.cel"
PARENT_BASED_SAMPLER = "envoy.tracers.opentelemetry.samplers.parent_based"
RATIO_SAMPLER = "envoy.tracers.opentelemetry.samplers.trace_id_ratio_based"
OTLP_HTTP_PATH = "/v1/traces"
_EXPORT_TIMEOUT = 5.0
_MILLION = 1_000_000

# Span attribute -> command operator, named by OpenTelemetry's HTTP semantic conventions.
DEFAULT_ATTRIBUTES: dict[str, str] = {
    "http.request.method": "%REQ(:METHOD)%",
    "url.path": "%REQ(:PATH)%",
    "server.address": "%REQ(:AUTHORITY)%",
    "network.protocol.name": "%PROTOCOL%",
    "user_agent.original": "%REQ(USER-AGENT)%",
    "client.address": "%DOWNSTREAM_REMOTE_ADDRESS%",
    "http.route": "%ROUTE_NAME%",
    "upstream.cluster": "%UPSTREAM_CLUSTER%",
}


def build_tracing(policy: TracingPolicy) -> Any:
    """The ``HttpConnectionManager.Tracing`` message."""
    tracer = opentelemetry_pb2.OpenTelemetryConfig(service_name=policy.service_name)
    timeout = duration(_EXPORT_TIMEOUT)
    if policy.grpc:
        tracer.grpc_service.envoy_grpc.cluster_name = policy.cluster
        tracer.grpc_service.timeout.CopyFrom(timeout)
    else:
        tracer.http_service.CopyFrom(
            http_service_pb2.HttpService(
                http_uri=http_uri_pb2.HttpUri(
                    uri=f"http://{policy.authority}{OTLP_HTTP_PATH}",
                    cluster=policy.cluster,
                    timeout=timeout,
                )
            )
        )
    tracer.sampler.CopyFrom(_sampler(policy.random_sampling, policy.client_sampling))
    built = hcm_pb2.HttpConnectionManager.Tracing(
        provider=http_tracer_pb2.Tracing.Http(name=OPENTELEMETRY_TRACER, typed_config=pack(tracer))
    )
    attributes = {k: v for k, v in DEFAULT_ATTRIBUTES.items() if k not in policy.remove}
    for attribute in policy.add:
        attributes[attribute.name] = f"%CEL({attribute.expression})%"
    built.custom_tags.extend(
        custom_tag_pb2.CustomTag(tag=name, value=value) for name, value in attributes.items()
    )
    return built


def _sampler(random: Sampling, client: Sampling) -> Any:
    if isinstance(random, str) or isinstance(client, str):
        cel = tracing_pb2.CelSampler(random_sampling=_cel(random), client_sampling=_cel(client))
        return _extension(CEL_SAMPLER, cel)
    share = percent_pb2.FractionalPercent(
        numerator=round(random * _MILLION), denominator=percent_pb2.FractionalPercent.MILLION
    )
    ratio = _extension(
        RATIO_SAMPLER,
        trace_id_ratio_based_sampler_pb2.TraceIdRatioBasedSamplerConfig(sampling_percentage=share),
    )
    if client == random and client != 1.0:
        return ratio  # client traces are kept like any other: by their trace id
    parent_based = parent_based_sampler_pb2.ParentBasedSamplerConfig(wrapped_sampler=ratio)
    return _extension(PARENT_BASED_SAMPLER, parent_based)


def _cel(sampling: Sampling) -> str:
    return sampling if isinstance(sampling, str) else repr(sampling)


def _extension(name: str, config: Any) -> Any:
    return extension_pb2.TypedExtensionConfig(name=name, typed_config=pack(config))
