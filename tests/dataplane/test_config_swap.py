"""Applying new configs to a running proxy: atomic swaps, listener moves and draining.

Covers route changes under concurrent load with zero failed requests, new requests on an
existing keep-alive connection seeing the new routes, a listener moving to a new port (the old
one stops accepting while its in-flight request completes) and an unsupported field leaving the
running config untouched. The xDS client that drives these swaps is not part of this package.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from dataplane.errors import UnsupportedField
from dataplane.proxy import Proxy
from tests.dataplane import resources as r
from tests.dataplane.backend import EchoBackend
from tests.dataplane.client import Connection, fetch, get
from tests.dataplane.conftest import PROXY_HOST, Backends, free_port


def config_for(port: int, cluster: str, backends: dict[str, EchoBackend], version: str):  # type: ignore[no-untyped-def]
    return r.compiled(
        [r.listener("l", PROXY_HOST, port, "rc")],
        [r.route_config("rc", r.vhost("v", ["*"], r.to_cluster(cluster)))],
        {name: [(b.host, b.port)] for name, b in backends.items()},
        version=version,
    )


async def test_route_swaps_under_load_fail_no_request(proxy: Proxy, backends: Backends) -> None:
    members = {"a": await backends("a"), "b": await backends("b")}
    port = free_port()
    await proxy.apply(config_for(port, "a", members, "0"))
    seen: Counter[str] = Counter()
    failures: list[object] = []
    stop = asyncio.Event()

    async def client() -> None:
        connection = await Connection.open(PROXY_HOST, port)
        for _ in range(2000):
            if stop.is_set():
                break
            try:
                response = await connection.request(get("/"))
            except Exception as exc:
                failures.append(exc)
                connection = await Connection.open(PROXY_HOST, port)
                continue
            if response.status != 200:
                failures.append(response.status)
            else:
                seen[response.json()["backend"]] += 1
        await connection.close()

    clients = [asyncio.create_task(client()) for _ in range(8)]
    for version in range(1, 11):
        await asyncio.sleep(0.02)  # let traffic flow between swaps
        await proxy.apply(config_for(port, "ab"[version % 2], members, str(version)))
    stop.set()
    await asyncio.gather(*clients)
    assert failures == []
    assert seen["a"] > 0 and seen["b"] > 0


async def test_keep_alive_connection_sees_the_new_routes(proxy: Proxy, backends: Backends) -> None:
    members = {"a": await backends("a"), "b": await backends("b")}
    port = free_port()
    await proxy.apply(config_for(port, "a", members, "1"))
    connection = await Connection.open(PROXY_HOST, port)
    assert (await connection.request(get("/"))).json()["backend"] == "a"
    await proxy.apply(config_for(port, "b", members, "2"))
    assert (await connection.request(get("/"))).json()["backend"] == "b"
    await connection.close()


async def test_listener_moves_port_and_the_old_one_drains(proxy: Proxy, backends: Backends) -> None:
    members = {"a": await backends("a")}
    old_port, new_port = free_port(), free_port()
    await proxy.apply(config_for(old_port, "a", members, "1"))
    in_flight = await Connection.open(PROXY_HOST, old_port)
    await in_flight.send(get("/slow", headers={"x-backend-delay": "0.3"}))
    await members["a"].wait_for_requests(1)
    await proxy.apply(config_for(new_port, "a", members, "2"))
    assert proxy.address_of("l") == (PROXY_HOST, new_port)
    assert (await fetch(PROXY_HOST, new_port, get("/"))).status == 200
    with pytest.raises(OSError):
        await fetch(PROXY_HOST, old_port, get("/"))
    finished = await in_flight.read_response()
    assert finished.status == 200 and finished.header("connection") == "close"
    assert await in_flight.is_closed_by_peer()


async def test_a_rejected_config_leaves_the_running_one_serving(
    proxy: Proxy, backends: Backends
) -> None:
    members = {"a": await backends("a")}
    port = free_port()
    await proxy.apply(config_for(port, "a", members, "1"))
    route = r.to_cluster("a")
    route.route.hash_policy.add().header.header_name = "x-user"
    with pytest.raises(UnsupportedField, match=r"Route\.route\.hash_policy"):
        r.compiled(
            [r.listener("l", PROXY_HOST, port, "rc")],
            [r.route_config("rc", r.vhost("v", ["*"], route))],
            {"a": [(members["a"].host, members["a"].port)]},
        )
    assert proxy.config.version == "1"
    assert (await fetch(PROXY_HOST, port, get("/"))).status == 200
