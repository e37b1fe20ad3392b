"""Compile ``envoy.filters.http.local_ratelimit`` configs: the inert filter in the chain and
each route's token bucket (``Route.typed_per_filter_config``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from envoy.extensions.filters.http.local_ratelimit.v3 import local_rate_limit_pb2

from dataplane.config.support import check_fields
from dataplane.config.values import seconds
from dataplane.errors import InvalidConfig, UnsupportedValue

LOCAL_RATE_LIMIT_FILTER = "envoy.filters.http.local_ratelimit"


@dataclass(frozen=True, slots=True)
class LocalRateLimitConfig:
    max_tokens: int
    tokens_per_fill: int
    # Seconds.
    fill_interval: float


def _unpack(packed: Any, path: str) -> Any:
    config = local_rate_limit_pb2.LocalRateLimit()
    if not packed.Unpack(config):
        raise UnsupportedValue(f"{path}.type_url", packed.type_url)
    check_fields(config, "LocalRateLimit")
    return config


def _percent(config: Any, name: str) -> int:
    """Percent of requests; only 0 and 100 are implemented (no runtime sampling)."""
    if not config.HasField(name):
        return 0
    value = getattr(config, name).default_value
    if value.denominator != 0 or value.numerator not in (0, 100):
        raise UnsupportedValue(f"LocalRateLimit.{name}", f"{value.numerator}/{value.denominator}")
    return int(value.numerator)


def check_local_rate_limit_filter(packed: Any) -> None:
    """The chain's filter must be inert: routes bring the buckets."""
    config = _unpack(packed, "HttpFilter.typed_config")
    if config.HasField("token_bucket") and _percent(config, "filter_enabled"):
        raise UnsupportedValue("LocalRateLimit.token_bucket", "on the connection manager")


def compile_local_rate_limit(packed: Any, path: str) -> LocalRateLimitConfig | None:
    """A route's bucket; None when the route's config leaves the filter off."""
    config = _unpack(packed, path)
    if not _percent(config, "filter_enabled"):
        return None
    if _percent(config, "filter_enforced") != 100:
        raise UnsupportedValue("LocalRateLimit.filter_enforced", "shadow mode")
    bucket = config.token_bucket
    if not config.HasField("token_bucket") or bucket.max_tokens < 1:
        raise InvalidConfig("LocalRateLimit.token_bucket.max_tokens must be at least 1")
    interval = seconds(bucket.fill_interval)
    if interval <= 0:
        raise InvalidConfig("LocalRateLimit.token_bucket.fill_interval must be positive")
    per_fill = bucket.tokens_per_fill.value if bucket.HasField("tokens_per_fill") else 1
    return LocalRateLimitConfig(bucket.max_tokens, per_fill, interval)
