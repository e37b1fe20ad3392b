"""AgentgatewayPolicy traffic filters on Envoy: csrf, local_ratelimit and buffer.

Each goes into a connection manager's chain only when some route of it uses the filter, and
stays inert there (csrf and local_ratelimit enabled for 0% of requests, buffer disabled);
routes that configure it carry a per-route config that turns it on with their settings.
"""

from __future__ import annotations

from envoy.config.core.v3 import base_pb2
from envoy.extensions.common.ratelimit.v3 import ratelimit_pb2
from envoy.extensions.filters.http.buffer.v3 import buffer_pb2
from envoy.extensions.filters.http.csrf.v3 import csrf_pb2
from envoy.extensions.filters.http.local_ratelimit.v3 import local_rate_limit_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from envoy.type.matcher.v3 import string_pb2
from envoy.type.v3 import percent_pb2, token_bucket_pb2
from google.protobuf import duration_pb2
from google.protobuf.message import Message

from translator.ir import Route
from translator.ir.traffic import (
    BUFFER_FILTER,
    CSRF_FILTER,
    LOCAL_RATE_LIMIT_FILTER,
    CsrfPolicy,
    LocalRateLimit,
)
from translator.xds.extensions import pack

# The buffer filter needs a limit even where it is disabled; routes bring their own.
_INERT_BUFFER_BYTES = 1024
_STAT_PREFIX = "agw_local_rate_limit"


def build_traffic_filters(names: tuple[str, ...]) -> list[Message]:
    """The inert connection-manager filters for ``names`` (``HttpFilterChain.traffic_filters``)."""
    built = []
    for name in names:
        if name == CSRF_FILTER:
            config = csrf_pb2.CsrfPolicy(filter_enabled=_percent(0))
            built.append(hcm_pb2.HttpFilter(name=name, typed_config=pack(config)))
        elif name == LOCAL_RATE_LIMIT_FILTER:
            limit = local_rate_limit_pb2.LocalRateLimit(stat_prefix=_STAT_PREFIX)
            built.append(hcm_pb2.HttpFilter(name=name, typed_config=pack(limit)))
        elif name == BUFFER_FILTER:
            inert = buffer_pb2.Buffer()
            inert.max_request_bytes.value = _INERT_BUFFER_BYTES
            built.append(hcm_pb2.HttpFilter(name=name, typed_config=pack(inert), disabled=True))
    return built


def add_traffic_per_route(built: Message, route: Route) -> None:
    """Turn the traffic filters ``route`` configures on for it."""
    configs = built.typed_per_filter_config
    if route.local_rate_limit is not None:
        configs[LOCAL_RATE_LIMIT_FILTER].CopyFrom(
            pack(build_local_rate_limit(route.local_rate_limit))
        )
    if route.csrf is not None:
        configs[CSRF_FILTER].CopyFrom(pack(build_csrf_policy(route.csrf)))
    if route.buffer_max_bytes is not None:
        per_route = buffer_pb2.BufferPerRoute()
        per_route.buffer.max_request_bytes.value = route.buffer_max_bytes
        configs[BUFFER_FILTER].CopyFrom(pack(per_route))


def build_csrf_policy(policy: CsrfPolicy) -> Message:
    return csrf_pb2.CsrfPolicy(
        filter_enabled=_percent(100),
        additional_origins=[
            string_pb2.StringMatcher(exact=origin) for origin in policy.additional_origins
        ],
    )


def build_local_rate_limit(limit: LocalRateLimit) -> Message:
    seconds = limit.fill_interval_seconds
    bucket = token_bucket_pb2.TokenBucket(
        max_tokens=limit.max_tokens,
        fill_interval=duration_pb2.Duration(seconds=int(seconds), nanos=round((seconds % 1) * 1e9)),
    )
    bucket.tokens_per_fill.value = limit.tokens_per_fill
    return local_rate_limit_pb2.LocalRateLimit(
        stat_prefix=_STAT_PREFIX,
        token_bucket=bucket,
        filter_enabled=_percent(100),
        filter_enforced=_percent(100),
        # x-ratelimit-limit, -remaining and -reset on every response of the route.
        enable_x_ratelimit_headers=ratelimit_pb2.DRAFT_VERSION_03,
    )


def _percent(numerator: int) -> Message:
    return base_pb2.RuntimeFractionalPercent(
        default_value=percent_pb2.FractionalPercent(
            numerator=numerator, denominator=percent_pb2.FractionalPercent.HUNDRED
        )
    )
