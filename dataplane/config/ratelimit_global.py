"""Compile ``envoy.filters.http.ratelimit``: the filter (which service, which domain, what to
do when it fails) and each route's descriptors (``RateLimitPerRoute.rate_limits``), which
``dataplane.ratelimit_global`` computes per request and sends to the service.

Actions implemented: request_headers, remote_address, generic_key, header_value_match, and
agw's CEL entry (an ``extension`` action whose typed config is
``agw.filters.v1alpha1.CelDescriptorEntry``). A descriptor whose action finds nothing (a
missing header, no match, a CEL error, null or false) is left out of the request.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from envoy.extensions.filters.http.ratelimit.v3 import rate_limit_pb2

from agwproto.agw.filters.v1alpha1 import ratelimit_pb2
from cel import CompileError, Program, compile_expression
from dataplane.config.matcher import compile_header_match
from dataplane.config.support import check_fields
from dataplane.config.values import seconds
from dataplane.errors import InvalidConfig, UnsupportedField, UnsupportedValue
from dataplane.request import RequestHead

RATE_LIMIT_TYPE = "envoy.extensions.filters.http.ratelimit.v3.RateLimit"
RATE_LIMIT_PER_ROUTE_TYPE = RATE_LIMIT_TYPE + "PerRoute"
# Envoy's default call deadline.
DEFAULT_TIMEOUT = 0.02
_CEL_ENTRY_TYPE = "agw.filters.v1alpha1.CelDescriptorEntry"


@dataclass(frozen=True, slots=True)
class RateLimitFilter:
    name: str
    cluster: str
    domain: str
    timeout: float = DEFAULT_TIMEOUT
    failure_mode_deny: bool = False
    # Off unless a route's per-filter config turns it on.
    disabled: bool = False


@dataclass(frozen=True, slots=True)
class DescriptorAction:
    """One entry: ``kind`` is "header", "remote_address", "generic", "header_match" or
    "cel"."""

    kind: str
    key: str
    header: bytes = b""
    value: str = ""
    matches: tuple[Callable[[RequestHead], bool], ...] = field(default=(), compare=False)
    program: Program | None = field(default=None, compare=False)


Descriptor = tuple[DescriptorAction, ...]


def is_rate_limit_filter(http_filter: Any) -> bool:
    return bool(
        http_filter.HasField("typed_config")
    ) and http_filter.typed_config.type_url.endswith("/" + RATE_LIMIT_TYPE)


def is_rate_limit_per_route(packed: Any) -> bool:
    return bool(packed.type_url.endswith("/" + RATE_LIMIT_PER_ROUTE_TYPE))


def compile_rate_limit_filter(http_filter: Any) -> RateLimitFilter:
    config = rate_limit_pb2.RateLimit()
    http_filter.typed_config.Unpack(config)
    where = f"HttpFilter {http_filter.name!r}"
    check_fields(config, "RateLimit", where)
    if not config.domain:
        raise InvalidConfig(f"RateLimit ({where}): domain is required")
    service = config.rate_limit_service.grpc_service
    if not service.HasField("envoy_grpc") or not service.envoy_grpc.cluster_name:
        raise InvalidConfig(f"RateLimit ({where}): rate_limit_service needs an envoy_grpc cluster")
    return RateLimitFilter(
        name=http_filter.name,
        cluster=service.envoy_grpc.cluster_name,
        domain=config.domain,
        timeout=seconds(config.timeout) if config.HasField("timeout") else DEFAULT_TIMEOUT,
        failure_mode_deny=config.failure_mode_deny,
        disabled=http_filter.disabled,
    )


def compile_route_rate_limits(
    per_filter: Any, path: str
) -> tuple[tuple[str, tuple[Descriptor, ...]], ...]:
    """(filter name, descriptors) for every rate limit filter the route configures."""
    found = []
    for name, packed in sorted(per_filter.items()):
        if not is_rate_limit_per_route(packed):
            continue
        where = f"{path}[{name}]"
        config = rate_limit_pb2.RateLimitPerRoute()
        packed.Unpack(config)
        check_fields(config, "RateLimitPerRoute")
        descriptors = tuple(
            tuple(_action(action, f"{where}.rate_limits[{i}]") for action in limit.actions)
            for i, limit in enumerate(config.rate_limits)
        )
        found.append((name, descriptors))
    return tuple(found)


def _action(action: Any, path: str) -> DescriptorAction:
    which = action.WhichOneof("action_specifier")
    if which == "request_headers":
        spec = action.request_headers
        if not spec.descriptor_key:
            raise InvalidConfig(f"{path}.request_headers.descriptor_key is required")
        return DescriptorAction("header", spec.descriptor_key, spec.header_name.lower().encode())
    if which == "remote_address":
        return DescriptorAction("remote_address", "remote_address")
    if which == "generic_key":
        spec = action.generic_key
        return DescriptorAction(
            "generic", spec.descriptor_key or "generic_key", value=spec.descriptor_value
        )
    if which == "header_value_match":
        spec = action.header_value_match
        if spec.HasField("expect_match") and not spec.expect_match.value:
            raise UnsupportedValue(f"{path}.header_value_match.expect_match", "false")
        matches = tuple(
            compile_header_match(h, f"{path}.header_value_match.headers") for h in spec.headers
        )
        key = spec.descriptor_key or "header_match"
        return DescriptorAction("header_match", key, value=spec.descriptor_value, matches=matches)
    if which == "extension":
        return _cel_action(action.extension.typed_config, path)
    raise UnsupportedField(f"{path}.actions.{which}")


def _cel_action(packed: Any, path: str) -> DescriptorAction:
    entry = ratelimit_pb2.CelDescriptorEntry()
    if not packed.type_url.endswith("/" + _CEL_ENTRY_TYPE) or not packed.Unpack(entry):
        raise UnsupportedValue(f"{path}.extension.typed_config", packed.type_url)
    try:
        program = compile_expression(entry.expression)
    except CompileError as error:
        raise InvalidConfig(f"{path}: CEL {entry.expression!r}: {error}") from None
    return DescriptorAction("cel", entry.key, program=program)
