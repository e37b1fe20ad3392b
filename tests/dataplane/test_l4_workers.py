"""Stream and datagram proxying in real worker processes (uvloop, SO_REUSEPORT on every port).

Covers, with two workers: a TCP listener and a UDP listener on the same port, a passthrough
chain chosen by SNI, and UDP sessions that stay with their worker (each client keeps one
backend, and each backend sees one upstream socket per client, not one per worker). uvloop
matters here: its transports start reading only after ``connection_made``, so bytes and a FIN
that come before the upstream connects must be held, which the in-process tests on asyncio's
loop cannot show. Pool mechanics are in test_workers.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from dataplane.config import XdsResources, compile_config
from dataplane.workers.pool import WorkerPool
from dataplane.xdsclient.resource_types import (
    CLUSTER,
    CLUSTER_LOAD_ASSIGNMENT,
    LISTENER,
    ROUTE_CONFIGURATION,
    SECRET,
)
from dataplane.xdsclient.sink import ConfigUpdate
from dataplane.xdsclient.store import StoredResource
from tests.dataplane import resources as r
from tests.dataplane.test_l4_config import (
    stream_listener,
    tcp_chain,
    tcp_proxy,
    udp_listener,
    udp_proxy,
)
from tests.dataplane.test_l4_tcp import StreamBackend, exchange
from tests.dataplane.test_l4_tls import server_tls, tls_exchange
from tests.dataplane.test_l4_udp import Client, UdpEcho
from tests.envoy_harness import free_port, wait_for

LISTEN_HOST = "127.0.28.1"
BACKEND_HOST = "127.0.28.2"


def config_update(listeners: list[Any], endpoints: dict[str, list[tuple[str, int]]]) -> Any:
    protos: dict[str, dict[str, Any]] = {
        LISTENER: {item.name: item for item in listeners},
        ROUTE_CONFIGURATION: {},
        CLUSTER: {name: r.cluster(name) for name in endpoints},
        CLUSTER_LOAD_ASSIGNMENT: {
            name: r.load_assignment(name, *members) for name, members in endpoints.items()
        },
        SECRET: {},
    }
    resources = {
        type_url: {
            name: StoredResource(name, message, message.SerializeToString(), "1", 0.0)
            for name, message in named.items()
        }
        for type_url, named in protos.items()
    }
    config = compile_config(
        XdsResources(
            listeners=protos[LISTENER],
            clusters=protos[CLUSTER],
            load_assignments=protos[CLUSTER_LOAD_ASSIGNMENT],
        ),
        "1",
    )
    return ConfigUpdate("1", resources, config)


@contextlib.asynccontextmanager
async def running_pool(count: int) -> AsyncIterator[WorkerPool]:
    pool = WorkerPool(count, stats_interval=0.05, log_level="warning")
    await pool.start()
    try:
        await wait_for(lambda: pool.running() == count, timeout=20, message="workers started")
        yield pool
    finally:
        await pool.stop(drain_seconds=1.0)


async def test_tcp_passthrough_and_udp_in_two_workers(tmp_path: Path) -> None:
    loop = asyncio.get_running_loop()
    tcp = await StreamBackend("tcp", BACKEND_HOST).start()
    vault = await StreamBackend(
        "vault", BACKEND_HOST, tls=server_tls(tmp_path, "vault", ["vault.example.com"])
    ).start()
    echoes = []
    for name in ("u1", "u2"):
        _, echo = await loop.create_datagram_endpoint(
            functools.partial(UdpEcho, name), local_addr=(BACKEND_HOST, 0)
        )
        echoes.append(echo)
    port, tls_port = free_port(LISTEN_HOST), free_port(LISTEN_HOST)
    update = config_update(
        [
            stream_listener("t", LISTEN_HOST, port, tcp_chain("c", tcp_proxy("tcp"))),
            udp_listener("u", LISTEN_HOST, port, udp_proxy("udp")),
            stream_listener(
                "s",
                LISTEN_HOST,
                tls_port,
                tcp_chain("vault", tcp_proxy("vault"), ["vault.example.com"]),
                inspect=True,
            ),
        ],
        {
            "tcp": [(tcp.host, tcp.port)],
            "vault": [(vault.host, vault.port)],
            "udp": [echo.address for echo in echoes],
        },
    )
    try:
        async with running_pool(2) as pool:
            await pool.apply(update)
            for _ in range(20):
                assert await exchange(port, host=LISTEN_HOST) == b"tcp:hi<eof>"
            for _ in range(5):
                reply = await tls_exchange(tls_port, "vault.example.com", host=LISTEN_HOST)
                assert reply == ("vault", b"vault:hi", None)
            clients = [Client((LISTEN_HOST, port)) for _ in range(16)]
            for client in clients:
                first, _ = await client.ask()
                for _ in range(4):
                    assert (await client.ask())[0] == first
            assert sum(len(echo.peers) for echo in echoes) == len(clients)
            for client in clients:
                client.close()
    finally:
        await tcp.stop()
        await vault.stop()
        for echo in echoes:
            if echo.transport is not None:
                echo.transport.close()
