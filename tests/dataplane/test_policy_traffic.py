"""The agw proxy's AgentgatewayPolicy traffic filters below the exchange: the local rate limit's
token bucket (start, refill, cap, x-ratelimit headers, division among workers), the CSRF
origin check (Envoy's rules), and compiling the per-route and chain configs stage 2 emits,
including the configs the proxy must NACK. The exchange hooks (429/403/413 on the wire) are
covered end to end by e2e/test_agw_policy_traffic.py on both data planes."""

from __future__ import annotations

import pytest
from envoy.extensions.filters.http.csrf.v3 import csrf_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from envoy.type.v3 import percent_pb2

from dataplane import csrf
from dataplane.config.csrf import CsrfConfig
from dataplane.config.ratelimit import LocalRateLimitConfig
from dataplane.config.traffic import check_traffic_filter, compile_route_traffic
from dataplane.errors import ConfigRejected
from dataplane.ratelimit import TokenBucket, worker_portion
from dataplane.request import RequestHead
from translator.ir import Route, RouteMatch
from translator.ir.route import DirectResponseAction
from translator.ir.traffic import (
    BUFFER_FILTER,
    CSRF_FILTER,
    LOCAL_RATE_LIMIT_FILTER,
    CsrfPolicy,
    LocalRateLimit,
)
from translator.xds.extensions import pack
from translator.xds.policy_traffic import build_traffic_filters
from translator.xds.route import build_route


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def bucket(
    max_tokens: int, per_fill: int, interval: float, share: tuple[int, int] = (0, 1)
) -> tuple[TokenBucket, FakeClock]:
    clock = FakeClock()
    config = LocalRateLimitConfig(max_tokens, per_fill, interval)
    return TokenBucket(config, clock, share), clock


def test_bucket_admits_max_tokens_then_refuses() -> None:
    limiter, _ = bucket(3, 3, 60.0)
    assert [limiter.take() for _ in range(5)] == [True, True, True, False, False]


def test_bucket_refills_continuously_up_to_its_cap() -> None:
    limiter, clock = bucket(2, 2, 1.0)
    assert limiter.take() and limiter.take() and not limiter.take()
    clock.now += 0.5  # one token back at 2 per second
    assert limiter.take()
    assert not limiter.take()
    clock.now += 60.0
    assert [limiter.take() for _ in range(3)] == [True, True, False]


def test_bucket_headers_count_down() -> None:
    limiter, _ = bucket(2, 2, 10.0)
    limiter.take()
    headers = dict(limiter.headers())
    assert headers[b"x-ratelimit-limit"] == b"2"
    assert headers[b"x-ratelimit-remaining"] == b"1"
    assert int(headers[b"x-ratelimit-reset"]) == 5


@pytest.mark.parametrize(("total", "workers"), [(5, 2), (1, 3), (100, 7), (4, 4)])
def test_workers_divide_the_tokens_exactly(total: int, workers: int) -> None:
    assert sum(worker_portion(total, i, workers) for i in range(workers)) == total
    admitted = 0
    for index in range(workers):
        limiter, _ = bucket(total, total, 60.0, (index, workers))
        admitted += sum(limiter.take() for _ in range(total + 1))
    assert admitted == total


def head(method: bytes, host: bytes = b"web.example.com", **headers: bytes) -> RequestHead:
    fields = [(name.encode(), value) for name, value in headers.items()]
    return RequestHead(method, b"/", b"", host, b"http", fields)


POLICY = CsrfConfig((b"app.example.com".__eq__,))


@pytest.mark.parametrize(
    ("request_head", "allowed"),
    [
        (head(b"GET", origin=b"https://evil.example"), True),
        (head(b"POST", origin=b"https://web.example.com"), True),
        (head(b"POST", origin=b"https://web.example.com:8443"), False),
        (head(b"POST", origin=b"https://app.example.com"), True),
        (head(b"DELETE", origin=b"https://evil.example"), False),
        (head(b"PUT", referer=b"https://web.example.com/page?x=1"), True),
        (head(b"PATCH"), False),
        (head(b"POST", origin=b"null"), False),
    ],
)
def test_csrf_checks_unsafe_methods_against_host(request_head: RequestHead, allowed: bool) -> None:
    assert csrf.is_allowed(POLICY, request_head) is allowed


def routed(**fields: object) -> object:
    route = Route("r", RouteMatch(), DirectResponseAction(200), **fields)  # type: ignore[arg-type]
    return build_route(route, listener_port=80, listener_scheme="http")


def test_route_configs_from_stage_2_compile() -> None:
    built: object = routed(
        csrf=CsrfPolicy(("app.example.com",)),
        local_rate_limit=LocalRateLimit(10, 5, 1.0),
        buffer_max_bytes=1024,
    )
    traffic = compile_route_traffic(built.typed_per_filter_config, "Route")  # type: ignore[attr-defined]
    assert traffic is not None
    assert traffic.buffer_max_bytes == 1024
    assert traffic.csrf is not None and traffic.csrf.additional_origins[0](b"app.example.com")
    assert traffic.rate_limit is not None and traffic.rate_limit.capacity == 10
    plain: object = routed()
    assert compile_route_traffic(plain.typed_per_filter_config, "Route") is None  # type: ignore[attr-defined]


def test_inert_chain_filters_are_accepted() -> None:
    for http_filter in build_traffic_filters((LOCAL_RATE_LIMIT_FILTER, CSRF_FILTER, BUFFER_FILTER)):
        check_traffic_filter(http_filter)


def test_csrf_enabled_on_the_chain_is_rejected() -> None:
    enabled = csrf_pb2.CsrfPolicy()
    enabled.filter_enabled.default_value.numerator = 100
    enabled.filter_enabled.default_value.denominator = percent_pb2.FractionalPercent.HUNDRED
    http_filter = hcm_pb2.HttpFilter(name=CSRF_FILTER, typed_config=pack(enabled))
    with pytest.raises(ConfigRejected):
        check_traffic_filter(http_filter)


def test_buffer_enabled_on_the_chain_is_rejected() -> None:
    (inert,) = build_traffic_filters((BUFFER_FILTER,))
    inert.disabled = False
    with pytest.raises(ConfigRejected):
        check_traffic_filter(inert)
