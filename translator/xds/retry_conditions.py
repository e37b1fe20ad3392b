"""agw's retry conditions (CEL) as one of a RetryPolicy's ``retry_options_predicates``, where
the agw proxy looks for them. Stage 1 keeps them off gateways Envoy serves, which has no
factory for the type."""

from __future__ import annotations

from envoy.config.core.v3 import extension_pb2
from google.protobuf.message import Message

from agwproto.agw.filters.v1alpha1 import retry_pb2
from translator.ir import RetryPolicy
from translator.xds.extensions import pack

RETRY_CONDITIONS = "agw.retry.conditions"


def build_retry_conditions(retry: RetryPolicy) -> Message:
    conditions = retry_pb2.RetryConditions(
        precondition=retry.precondition or "", condition=retry.condition or ""
    )
    return extension_pb2.TypedExtensionConfig(name=RETRY_CONDITIONS, typed_config=pack(conditions))
