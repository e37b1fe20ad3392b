"""Traffic features that reach the IR only through AgentgatewayPolicy: CSRF protection, local
rate limits and request buffering, each a per-route setting of an Envoy HTTP filter."""

from __future__ import annotations

from dataclasses import dataclass

# Envoy filter names, in the order they run in a connection manager's chain.
CSRF_FILTER = "envoy.filters.http.csrf"
LOCAL_RATE_LIMIT_FILTER = "envoy.filters.http.local_ratelimit"
BUFFER_FILTER = "envoy.filters.http.buffer"
TRAFFIC_FILTERS = (LOCAL_RATE_LIMIT_FILTER, CSRF_FILTER, BUFFER_FILTER)


@dataclass(frozen=True, slots=True)
class CsrfPolicy:
    """Unsafe methods (POST, PUT, DELETE, PATCH) need an Origin whose host[:port] is the
    request's own Host or one of ``additional_origins`` (host[:port], scheme dropped)."""

    additional_origins: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class LocalRateLimit:
    """A token bucket per route, per proxy: ``max_tokens`` to start with and at most,
    ``tokens_per_fill`` added every ``fill_interval_seconds``. Requests without a token get 429."""

    max_tokens: int
    tokens_per_fill: int
    fill_interval_seconds: float
