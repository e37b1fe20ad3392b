"""How ``frontend.tracing`` sampling becomes a sampler, per data plane: constants folded from
CEL, Envoy's parent-based and trace-id-ratio samplers where they express the shares, agw's
CelSampler otherwise, and the status notes for what Envoy cannot do. The whole-policy path
(attachment, collector cluster, custom tags) is in the agwpolicy-tracing golden cases."""

from __future__ import annotations

import json

import pytest
from envoy.config.trace.v3 import opentelemetry_pb2

from agwproto.agw.filters.v1alpha1 import tracing_pb2
from translator.gatewayapi.policy.tracing import constant_share, envoy_tracing_gaps
from translator.ir.connection import Sampling, TracingPolicy
from translator.xds.tracing import CEL_SAMPLER, PARENT_BASED_SAMPLER, RATIO_SAMPLER, build_tracing


@pytest.mark.parametrize(
    ("expression", "share"),
    [
        ("0.25", 0.25),
        ("true", 1.0),
        ("false", 0.0),
        ("1", 1.0),
        ("0.5 * 0.5", 0.25),
        ("2.0", None),  # not a share
        ("'yes'", None),
        ("random() < 0.5", None),  # impure: decided per request
        ('request.headers["x"] == "y"', None),
        ("not CEL (", None),
    ],
)
def test_constant_share(expression: str, share: float | None) -> None:
    assert constant_share(expression) == share


def sampler(random: Sampling, client: Sampling) -> opentelemetry_pb2.OpenTelemetryConfig:
    policy = TracingPolicy("otel", "otel.ns:4317", True, "gw.ns", random, client)
    tracer = opentelemetry_pb2.OpenTelemetryConfig()
    assert build_tracing(policy).provider.typed_config.Unpack(tracer)
    return tracer.sampler


def test_constant_shares_use_envoys_parent_based_sampler() -> None:
    found = sampler(0.25, 1.0)
    assert found.name == PARENT_BASED_SAMPLER
    assert RATIO_SAMPLER.encode() in found.typed_config.value


def test_equal_shares_sample_client_traces_by_trace_id() -> None:
    assert sampler(0.5, 0.5).name == RATIO_SAMPLER


def test_cel_goes_to_agws_sampler_with_constants_as_cel() -> None:
    found = sampler('request.headers["x-trace"] == "yes"', 1.0)
    assert found.name == CEL_SAMPLER
    cel = tracing_pb2.CelSampler()
    assert found.typed_config.Unpack(cel)
    assert (cel.random_sampling, cel.client_sampling) == (
        'request.headers["x-trace"] == "yes"',
        "1.0",
    )


def test_envoy_gaps_name_what_envoy_cannot_sample() -> None:
    def gaps(**spec: str) -> list[str]:
        return envoy_tracing_gaps(json.dumps({"backendRef": {}, **spec}))

    assert gaps(randomSampling="0.1") == []
    assert gaps(randomSampling="0.1", clientSampling="0.1") == []
    (random,) = gaps(randomSampling="random() < 0.1")
    assert random.startswith("frontend.tracing.randomSampling ")
    (client,) = gaps(randomSampling="0.1", clientSampling="0.3")
    assert client.startswith("frontend.tracing.clientSampling ")
    assert envoy_tracing_gaps(None) == []
