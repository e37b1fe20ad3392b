"""Upstream failure handling: retries, per-try timeouts, passive ejection, mirroring.

Covers retry on retriable status codes (with the request body replayed), on connect failure
(the dead endpoint is then ejected), per-try timeouts, responses passed through when no retry
policy applies, and request mirroring to a shadow cluster. Timeouts of the route itself are in
test_http1.py.
"""

from __future__ import annotations

from typing import Any

from dataplane.proxy import Proxy
from tests.dataplane import resources as r
from tests.dataplane.client import Connection, fetch, get, request_bytes
from tests.dataplane.conftest import BACKEND_HOST, Backends, Serve, free_port


def retrying(cluster: str, retry_on: str, retries: int, **policy: Any) -> Any:
    route = r.to_cluster(cluster)
    route.route.retry_policy.retry_on = retry_on
    route.route.retry_policy.num_retries.value = retries
    route.route.retry_policy.retry_back_off.base_interval.FromMilliseconds(5)
    for key, value in policy.items():
        if key == "per_try_timeout_ms":
            route.route.retry_policy.per_try_timeout.FromMilliseconds(int(value))
        elif key == "codes":
            route.route.retry_policy.retriable_status_codes.extend(value)
    return route


async def test_retriable_status_codes_are_retried_with_the_body(
    serve: Serve, backends: Backends
) -> None:
    flaky = await backends("flaky")
    flaky.fail_first = 2
    host, port = await serve(
        retrying("flaky", "retriable-status-codes", 2, codes=[503]), clusters={"flaky": [flaky]}
    )
    response = await fetch(host, port, request_bytes("POST", "/", body=b"again"))
    assert response.status == 200
    assert [request.body for request in flaky.received] == [b"again"] * 3


async def test_retries_give_up_after_num_retries(serve: Serve, backends: Backends) -> None:
    flaky = await backends("flaky")
    flaky.fail_first = 5
    host, port = await serve(retrying("flaky", "5xx", 1), clusters={"flaky": [flaky]})
    response = await fetch(host, port, get("/"))
    assert response.status == 503
    assert len(flaky.received) == 2


async def test_without_a_retry_policy_the_upstream_answer_passes_through(
    serve: Serve, backends: Backends
) -> None:
    web = await backends("web")
    host, port = await serve(r.to_cluster("web"), clusters={"web": [web]})
    response = await fetch(host, port, get("/", headers={"x-backend-status": "503"}))
    assert response.status == 503
    assert response.json()["backend"] == "web"
    assert len(web.received) == 1


async def test_connect_failures_are_retried_and_the_dead_endpoint_ejected(
    proxy: Proxy, serve: Serve, backends: Backends
) -> None:
    good = await backends("good")
    dead = (BACKEND_HOST, free_port(BACKEND_HOST))
    host, port = await serve(
        retrying("mixed", "connect-failure", 2),
        clusters={"mixed": [dead, good]},
        cluster_protos=[r.cluster("mixed", connect_timeout=0.5)],
    )
    connection = await Connection.open(host, port)
    for _ in range(20):
        assert (await connection.request(get("/"))).status == 200
    await connection.close()
    # One failure ejects the dead endpoint; round robin would otherwise hit it ten times.
    assert 1 <= proxy.stats.upstream_connect_failures <= 2
    assert proxy.stats.upstream_retries == proxy.stats.upstream_connect_failures


async def test_per_try_timeout_moves_on_to_another_attempt(
    serve: Serve, backends: Backends
) -> None:
    slow = await backends("slow")
    slow.stall_first = 1
    host, port = await serve(
        retrying("slow", "5xx", 1, per_try_timeout_ms=200), clusters={"slow": [slow]}
    )
    response = await fetch(host, port, get("/"), timeout=1.5)
    assert response.status == 200
    assert len(slow.received) == 2


async def test_requests_are_mirrored_to_the_shadow_cluster(
    serve: Serve, backends: Backends
) -> None:
    web, shadow = await backends("web"), await backends("shadow")
    route = r.to_cluster("web")
    route.route.request_mirror_policies.add(cluster="shadow")
    host, port = await serve(route, clusters={"web": [web], "shadow": [shadow]})
    response = await fetch(host, port, request_bytes("POST", "/m?x=1", body=b"copy me"))
    assert response.json()["backend"] == "web"
    await shadow.wait_for_requests(1)
    mirrored = shadow.received[0]
    assert (mirrored.target, mirrored.body) == ("/m?x=1", b"copy me")
    assert mirrored.header("host") == "example.com-shadow"
