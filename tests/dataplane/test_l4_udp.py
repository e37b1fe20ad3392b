"""udp_proxy listeners: real UDP clients and backends on loopback.

Covers a session per client address (replies come back from the listener's address; one
client stays on one backend), endpoint weights spreading new clients by weighted round robin,
idle expiry (the next datagram opens a new session on the next endpoint), a config swap that
removes a session's endpoint, a cluster without endpoints (datagrams dropped), a TCP and a UDP
listener on the same port, and the UDP counters. The session bound (16384) is not exercised.
"""

from __future__ import annotations

import asyncio
import socket
from collections import Counter
from collections.abc import AsyncIterator, Callable
from typing import Any, cast

import pytest

from dataplane.proxy import Proxy
from tests.dataplane.conftest import BACKEND_HOST, PROXY_HOST
from tests.dataplane.test_l4_config import (
    l4_config,
    stream_listener,
    tcp_chain,
    tcp_proxy,
    udp_listener,
    udp_proxy,
)
from tests.dataplane.test_l4_tcp import StartBackend, exchange  # the fixture
from tests.dataplane.test_l4_tcp import fast_proxy as fast_proxy
from tests.dataplane.test_l4_tcp import stream_backends as stream_backends  # the fixture
from tests.envoy_harness import wait_for

DEADLINE = 5.0


class UdpEcho(asyncio.DatagramProtocol):
    """Replies ``<name>:<datagram>`` to whoever sent it."""

    def __init__(self, name: str) -> None:
        self.name = name.encode()
        self.transport: asyncio.DatagramTransport | None = None
        self.peers: set[tuple[str, int]] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # The selector loop's datagram transport does not subclass DatagramTransport.
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.peers.add(addr)
        assert self.transport is not None
        self.transport.sendto(self.name + b":" + data, addr)

    @property
    def address(self) -> tuple[str, int]:
        assert self.transport is not None
        host, port = self.transport.get_extra_info("sockname")[:2]
        return str(host), int(port)


@pytest.fixture
async def udp_backends() -> AsyncIterator[Callable[[str], asyncio.Future[UdpEcho]]]:
    started: list[UdpEcho] = []
    loop = asyncio.get_running_loop()

    async def start(name: str) -> UdpEcho:
        _, echo = await loop.create_datagram_endpoint(
            lambda: UdpEcho(name), local_addr=(BACKEND_HOST, 0)
        )
        started.append(echo)
        return echo

    yield start  # type: ignore[misc]
    for echo in started:
        if echo.transport is not None:
            echo.transport.close()


class Client:
    """A UDP client socket; each instance is one source address, so one session."""

    def __init__(self, proxy_address: tuple[str, int]) -> None:
        self.proxy_address = proxy_address
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setblocking(False)
        self.sock.bind(("127.0.0.1", 0))

    async def ask(self, payload: bytes = b"hi") -> tuple[bytes, tuple[str, int]]:
        loop = asyncio.get_running_loop()
        self.sock.sendto(payload, self.proxy_address)
        data, source = await asyncio.wait_for(loop.sock_recvfrom(self.sock, 65535), DEADLINE)
        return data, source

    def close(self) -> None:
        self.sock.close()


async def serve_udp(
    proxy: Proxy, endpoints: list[tuple[str, int, int]], idle: float = 60.0
) -> tuple[str, int]:
    listener = udp_listener("u", PROXY_HOST, 0, udp_proxy("c", idle_seconds=idle))
    await proxy.apply(l4_config([listener], {"c": list(endpoints)}))
    address = proxy.address_of("u")
    assert address is not None
    return address


async def test_sessions_per_client_and_weights(proxy: Proxy, udp_backends: Any) -> None:
    a, b = await udp_backends("a"), await udp_backends("b")
    address = await serve_udp(proxy, [(*a.address, 3), (*b.address, 1)])
    clients = [Client(address) for _ in range(40)]
    first = []
    for client in clients:
        data, source = await client.ask()
        assert source == address
        first.append(data.split(b":")[0])
    assert Counter(first) == {b"a": 30, b"b": 10}
    # Each client keeps its backend: its session holds the endpoint.
    for client, backend in zip(clients[:8], first[:8], strict=True):
        for _ in range(3):
            assert (await client.ask(b"again"))[0] == backend + b":again"
    assert proxy.stats.udp_sessions_total == 40
    assert proxy.stats.udp_sessions_active == 40
    # Every session has its own upstream socket, so a backend sees one peer per session.
    assert len(a.peers) == 30 and len(b.peers) == 10
    for client in clients:
        client.close()


async def test_idle_session_expires(fast_proxy: Proxy, udp_backends: Any) -> None:
    a, b = await udp_backends("a"), await udp_backends("b")
    address = await serve_udp(fast_proxy, [(*a.address, 1), (*b.address, 1)], idle=0.2)
    client = Client(address)
    assert (await client.ask())[0] == b"a:hi"
    assert fast_proxy.stats.udp_sessions_active == 1
    await wait_for(
        lambda: fast_proxy.stats.udp_sessions_active == 0,
        timeout=DEADLINE,
        message="the session to expire",
    )
    # A new session goes to the next endpoint in the schedule.
    assert (await client.ask())[0] == b"b:hi"
    assert fast_proxy.stats.udp_sessions_total == 2
    client.close()


async def test_swap_removing_an_endpoint_ends_its_sessions(proxy: Proxy, udp_backends: Any) -> None:
    a, b = await udp_backends("a"), await udp_backends("b")
    address = await serve_udp(proxy, [(*a.address, 1)])
    client = Client(address)
    assert (await client.ask())[0] == b"a:hi"
    listener = udp_listener("u", PROXY_HOST, address[1], udp_proxy("c"))
    await proxy.apply(l4_config([listener], {"c": [(*b.address, 1)]}, version="2"))
    assert proxy.address_of("u") == address
    assert (await client.ask())[0] == b"b:hi"
    client.close()


async def test_cluster_without_endpoints_drops(proxy: Proxy) -> None:
    address = await serve_udp(proxy, [])
    client = Client(address)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(client.ask(), 0.3)
    await wait_for(
        lambda: proxy.stats.udp_datagrams_dropped == 1,
        timeout=DEADLINE,
        message="the drop to be counted",
    )
    client.close()


async def test_tcp_and_udp_listeners_share_a_port(
    proxy: Proxy, udp_backends: Any, stream_backends: StartBackend
) -> None:
    echo = await udp_backends("udp")
    stream = await stream_backends("tcp")
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    probe.bind((PROXY_HOST, 0))
    port = int(probe.getsockname()[1])
    probe.close()
    config = l4_config(
        [
            stream_listener("t", PROXY_HOST, port, tcp_chain("c", tcp_proxy("tcp"))),
            udp_listener("u", PROXY_HOST, port, udp_proxy("udp")),
        ],
        {"tcp": [(stream.host, stream.port)], "udp": [(*echo.address, 1)]},
    )
    await proxy.apply(config)
    client = Client((PROXY_HOST, port))
    assert (await client.ask())[0] == b"udp:hi"
    assert await exchange(port) == b"tcp:hi<eof>"
    client.close()
