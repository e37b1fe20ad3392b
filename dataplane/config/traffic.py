"""What a route's AgentgatewayPolicy traffic filters (local_ratelimit, csrf, buffer) need,
compiled from its ``typed_per_filter_config``; ``dataplane.traffic`` enforces it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from envoy.extensions.filters.http.buffer.v3 import buffer_pb2

from dataplane.config.csrf import CSRF_FILTER, CsrfConfig, check_csrf_filter, compile_csrf_policy
from dataplane.config.ratelimit import (
    LOCAL_RATE_LIMIT_FILTER,
    check_local_rate_limit_filter,
    compile_local_rate_limit,
)
from dataplane.config.support import check_fields
from dataplane.errors import InvalidConfig, UnsupportedField, UnsupportedValue
from dataplane.ratelimit import TokenBucket

BUFFER_FILTER = "envoy.filters.http.buffer"
TRAFFIC_FILTERS = frozenset((LOCAL_RATE_LIMIT_FILTER, CSRF_FILTER, BUFFER_FILTER))


@dataclass(frozen=True, slots=True)
class RouteTraffic:
    # Live state: each compiled route has its own bucket, as each Envoy route has its own.
    rate_limit: TokenBucket | None = None
    csrf: CsrfConfig | None = None
    # Requests with a larger body answer 413.
    buffer_max_bytes: int | None = None


def check_traffic_filter(http_filter: Any) -> None:
    """A chain's traffic filter must be inert; routes bring their settings."""
    name = http_filter.name
    if name == CSRF_FILTER:
        check_csrf_filter(http_filter.typed_config)
    elif name == LOCAL_RATE_LIMIT_FILTER:
        check_local_rate_limit_filter(http_filter.typed_config)
    else:
        config = buffer_pb2.Buffer()
        if not http_filter.typed_config.Unpack(config):
            raise UnsupportedValue("HttpFilter.typed_config", http_filter.typed_config.type_url)
        check_fields(config, "Buffer")
        if not http_filter.disabled:
            raise UnsupportedField("Buffer (enabled on the connection manager: use disabled)")


def compile_route_traffic(per_filter: Any, path: str) -> RouteTraffic | None:
    """None when the route configures none of the traffic filters."""
    if not any(name in per_filter for name in TRAFFIC_FILTERS):
        return None
    limit = csrf = size = None
    if LOCAL_RATE_LIMIT_FILTER in per_filter:
        where = f"{path}[{LOCAL_RATE_LIMIT_FILTER}]"
        limit = compile_local_rate_limit(per_filter[LOCAL_RATE_LIMIT_FILTER], where)
    if CSRF_FILTER in per_filter:
        csrf = compile_csrf_policy(per_filter[CSRF_FILTER], f"{path}[{CSRF_FILTER}]")
    if BUFFER_FILTER in per_filter:
        size = _buffer_limit(per_filter[BUFFER_FILTER], f"{path}[{BUFFER_FILTER}]")
    return RouteTraffic(TokenBucket(limit) if limit is not None else None, csrf, size)


def _buffer_limit(packed: Any, path: str) -> int | None:
    config = buffer_pb2.BufferPerRoute()
    if not packed.Unpack(config):
        raise UnsupportedValue(f"{path}.type_url", packed.type_url)
    check_fields(config, "BufferPerRoute")
    if config.disabled:
        return None
    limit = config.buffer.max_request_bytes.value
    if limit < 1:
        raise InvalidConfig("BufferPerRoute.buffer.max_request_bytes must be at least 1")
    return int(limit)
