"""Strip agw's own HTTP filters (typed configs from proto/) from a gateway's xDS, so Envoy can
validate everything else of a case the agw proxy serves; Envoy has no factory for them (nor
for the CEL rate limit descriptors and the CEL trace sampler, which are dropped too)."""

from __future__ import annotations

import dataclasses
from types import MappingProxyType
from typing import Any

from envoy.config.trace.v3 import opentelemetry_pb2
from envoy.extensions.filters.http.ratelimit.v3 import rate_limit_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)

from translator.xds.resources import XdsResources

_AGW_TYPE = "type.googleapis.com/agw."


def without_agw_filters(xds: XdsResources) -> XdsResources:
    return dataclasses.replace(
        xds,
        listeners=MappingProxyType({n: _listener(m) for n, m in xds.listeners.items()}),
        route_configs=MappingProxyType({n: _routes(m) for n, m in xds.route_configs.items()}),
    )


def _listener(listener: Any) -> Any:
    copy = type(listener)()
    copy.CopyFrom(listener)
    for chain in copy.filter_chains:
        for network_filter in chain.filters:
            manager = hcm_pb2.HttpConnectionManager()
            if not network_filter.typed_config.Unpack(manager):
                continue
            kept = [f for f in manager.http_filters if not _is_agw(f.typed_config.type_url)]
            del manager.http_filters[:]
            manager.http_filters.extend(kept)
            _drop_cel_sampler(manager)
            network_filter.typed_config.Pack(manager)
    return copy


def _routes(config: Any) -> Any:
    copy = type(config)()
    copy.CopyFrom(config)
    for host in copy.virtual_hosts:
        for route in host.routes:
            for name in [
                n for n, c in route.typed_per_filter_config.items() if _is_agw(c.type_url)
            ]:
                del route.typed_per_filter_config[name]
            for packed in route.typed_per_filter_config.values():
                _drop_cel_descriptors(packed)
            _drop_retry_conditions(route)
    return copy


def _drop_retry_conditions(route: Any) -> None:
    """agw's CEL retry conditions sit among Envoy's retry options predicates."""
    predicates = route.route.retry_policy.retry_options_predicates
    kept = [p for p in predicates if not _is_agw(p.typed_config.type_url)]
    if len(kept) != len(predicates):
        del predicates[:]
        predicates.extend(kept)


def _drop_cel_descriptors(packed: Any) -> None:
    """Rate limit descriptors computed by CEL are an agw extension inside Envoy's config."""
    per_route = rate_limit_pb2.RateLimitPerRoute()
    if not packed.Unpack(per_route):
        return
    kept = [
        limit
        for limit in per_route.rate_limits
        if not any(_is_agw(a.extension.typed_config.type_url) for a in limit.actions)
    ]
    del per_route.rate_limits[:]
    per_route.rate_limits.extend(kept)
    packed.Pack(per_route)


def _drop_cel_sampler(manager: Any) -> None:
    tracer = opentelemetry_pb2.OpenTelemetryConfig()
    provider = manager.tracing.provider.typed_config
    if not provider.Unpack(tracer) or not _is_agw(tracer.sampler.typed_config.type_url):
        return
    tracer.ClearField("sampler")
    provider.Pack(tracer)


def _is_agw(type_url: str) -> bool:
    return type_url.startswith(_AGW_TYPE)
