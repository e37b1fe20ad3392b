"""tcp_proxy over plain TCP: the proxy between real clients and real stream backends on loopback.

Covers weighted_clusters and endpoint weights (smooth weighted round robin per connection),
a large transfer that engages backpressure (the client is paused while the upstream does not
read, the proxy's buffer stays bounded, every byte arrives), half-close in both directions,
a cluster without endpoints or unknown (closed at once), connect failure with and without
max_connect_attempts, the idle timeout, and the TCP counters. TLS is in test_l4_tls.py.
"""

from __future__ import annotations

import asyncio
import hashlib
import ssl
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from google.protobuf import duration_pb2, wrappers_pb2

from dataplane.proxy import Proxy
from dataplane.tcp.session import TcpSession
from tests.dataplane.conftest import BACKEND_HOST, PROXY_HOST, free_port
from tests.dataplane.test_l4_config import (
    Endpoints,
    l4_config,
    stream_listener,
    tcp_chain,
    tcp_proxy,
)
from tests.envoy_harness import wait_for

DEADLINE = 5.0


class StreamBackend:
    """Answers each connection with ``<name>:`` then echoes; on EOF writes ``<eof>`` and
    closes. With ``sink`` it instead reads nothing until ``release`` is set, then replies with
    the SHA-256 and length of everything it read."""

    def __init__(
        self, name: str, host: str = BACKEND_HOST, *, sink: bool = False, tls: Any = None
    ) -> None:
        self.name = name
        self.host = host
        self.sink = sink
        self.tls = tls
        self.port = 0
        self.accepted = 0
        self.release = asyncio.Event()
        self.server: asyncio.Server | None = None

    async def start(self) -> StreamBackend:
        self.server = await asyncio.start_server(self._serve, self.host, 0, ssl=self.tls)
        self.port = int(self.server.sockets[0].getsockname()[1])
        return self

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        try:
            if self.sink:
                await self._sink(reader, writer)
            else:
                await self._echo(reader, writer)
        except (ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()

    async def _echo(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(self.name.encode() + b":")
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        writer.write(b"<eof>")
        await writer.drain()

    async def _sink(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self.release.wait()
        digest, size = hashlib.sha256(), 0
        while data := await reader.read(1 << 20):
            digest.update(data)
            size += len(data)
        writer.write(f"{digest.hexdigest()} {size}".encode())
        await writer.drain()

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()


StartBackend = Callable[..., Awaitable[StreamBackend]]


@pytest.fixture
async def stream_backends() -> AsyncIterator[StartBackend]:
    started: list[StreamBackend] = []

    async def start(name: str, **options: Any) -> StreamBackend:
        backend = await StreamBackend(name, **options).start()
        started.append(backend)
        return backend

    yield start
    for backend in started:
        await backend.stop()


@pytest.fixture
async def fast_proxy() -> AsyncIterator[Proxy]:
    # A short tick so idle timeouts are checked often.
    instance = Proxy(tick_seconds=0.05)
    yield instance
    await instance.close()


async def exchange(port: int, payload: bytes = b"hi", host: str = PROXY_HOST) -> bytes:
    """Send, half-close, and read until the proxy closes."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(payload)
        writer.write_eof()
        return await asyncio.wait_for(reader.read(), DEADLINE)
    finally:
        writer.close()


async def refused(port: int, host: str = PROXY_HOST) -> bool:
    """The proxy closes the connection without a byte, before the client sends anything."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        return await asyncio.wait_for(reader.read(), DEADLINE) == b""
    except ConnectionResetError:
        return True
    finally:
        writer.close()


async def serve_tcp(
    proxy: Proxy,
    clusters: Endpoints,
    *,
    weights: dict[str, int] | None = None,
    **proxy_fields: Any,
) -> int:
    """One plain listener whose single chain proxies to the first of ``clusters`` (name to
    endpoints), or to ``weights`` (cluster to weight) when given."""
    target: list[tuple[str, int]] | str = list(weights.items()) if weights else next(iter(clusters))
    chain = tcp_chain("c", tcp_proxy(target, **proxy_fields))
    listener = stream_listener("l", PROXY_HOST, 0, chain)
    await proxy.apply(l4_config([listener], clusters))
    address = proxy.address_of("l")
    assert address is not None
    return address[1]


async def test_weighted_clusters_spread_connections(
    proxy: Proxy, stream_backends: StartBackend
) -> None:
    a, b = await stream_backends("a"), await stream_backends("b")
    port = await serve_tcp(
        proxy, {"ca": [(a.host, a.port)], "cb": [(b.host, b.port)]}, weights={"ca": 3, "cb": 1}
    )
    replies = [await exchange(port) for _ in range(40)]
    assert all(reply.endswith(b":hi<eof>") for reply in replies)
    assert Counter(reply.split(b":")[0] for reply in replies) == {b"a": 30, b"b": 10}


async def test_endpoint_weights_spread_connections(
    proxy: Proxy, stream_backends: StartBackend
) -> None:
    a, b = await stream_backends("a"), await stream_backends("b")
    port = await serve_tcp(proxy, {"c": [(a.host, a.port, 1), (b.host, b.port, 3)]})
    replies = [await exchange(port) for _ in range(40)]
    assert Counter(reply.split(b":")[0] for reply in replies) == {b"a": 10, b"b": 30}
    assert proxy.stats.tcp_connections_total == 40
    assert proxy.stats.tcp_bytes_received == 80


def _only_session(proxy: Proxy) -> TcpSession:
    (bound,) = proxy.listeners.values()
    (session,) = bound.connections
    assert isinstance(session, TcpSession)
    return session


async def test_large_transfer_pauses_the_client_and_arrives_whole(
    proxy: Proxy, stream_backends: StartBackend
) -> None:
    sink = await stream_backends("sink", sink=True)
    port = await serve_tcp(proxy, {"c": [(sink.host, sink.port)]})
    payload = bytes(range(256)) * (32 * 1024 * 4)  # 32 MiB
    reader, writer = await asyncio.open_connection(PROXY_HOST, port)
    sent = asyncio.create_task(_send_all(writer, payload))
    await wait_for(
        lambda: bool(proxy.listeners) and _has_session(proxy),
        timeout=DEADLINE,
        message="the session",
    )
    session = _only_session(proxy)
    await wait_for(lambda: session.upstream is not None, timeout=DEADLINE, message="the upstream")
    assert session.downstream is not None and session.upstream is not None
    # The sink reads nothing: the proxy stops reading the client once its buffer is full.
    await wait_for(
        lambda: not session.downstream.is_reading(), timeout=DEADLINE, message="backpressure"
    )  # type: ignore[union-attr]
    assert not sent.done()
    assert session.upstream.get_write_buffer_size() <= (1 << 20) + (1 << 18)
    sink.release.set()
    await asyncio.wait_for(sent, 30)
    writer.write_eof()
    reply = await asyncio.wait_for(reader.read(), 30)
    writer.close()
    assert reply == f"{hashlib.sha256(payload).hexdigest()} {len(payload)}".encode()


def _has_session(proxy: Proxy) -> bool:
    return any(bound.connections for bound in proxy.listeners.values())


async def _send_all(writer: asyncio.StreamWriter, payload: bytes) -> None:
    view = memoryview(payload)
    for offset in range(0, len(view), 1 << 18):
        writer.write(view[offset : offset + (1 << 18)])
        await writer.drain()


async def test_half_close_each_way(proxy: Proxy, stream_backends: StartBackend) -> None:
    echo = await stream_backends("echo")
    port = await serve_tcp(proxy, {"c": [(echo.host, echo.port)]})
    reader, writer = await asyncio.open_connection(PROXY_HOST, port)
    writer.write(b"ping")
    assert await asyncio.wait_for(reader.readexactly(9), DEADLINE) == b"echo:ping"
    # The client's FIN reaches the backend, which still answers on the open half.
    writer.write_eof()
    assert await asyncio.wait_for(reader.read(), DEADLINE) == b"<eof>"
    writer.close()


async def test_backend_closing_first_closes_the_client(
    proxy: Proxy, stream_backends: StartBackend
) -> None:
    sink = await stream_backends("sink", sink=True)
    sink.release.set()
    port = await serve_tcp(proxy, {"c": [(sink.host, sink.port)]})
    reader, writer = await asyncio.open_connection(PROXY_HOST, port)
    writer.write(b"abc")
    writer.write_eof()
    reply = await asyncio.wait_for(reader.read(), DEADLINE)
    assert reply == f"{hashlib.sha256(b'abc').hexdigest()} 3".encode()
    writer.close()
    await wait_for(
        lambda: proxy.stats.tcp_connections_active == 0,
        timeout=DEADLINE,
        message="the session to end",
    )


async def test_cluster_without_endpoints_or_unknown_closes_at_once(proxy: Proxy) -> None:
    port = await serve_tcp(proxy, {"agw/invalid-backend": []})
    assert await refused(port)
    port = await serve_tcp(proxy, {"other": []}, weights={"missing": 1})
    assert await refused(port)


async def test_connect_failure_closes_unless_another_attempt_is_allowed(
    proxy: Proxy, stream_backends: StartBackend
) -> None:
    dead = (BACKEND_HOST, free_port(BACKEND_HOST))
    port = await serve_tcp(proxy, {"c": [dead]})
    assert await refused(port)
    assert proxy.stats.upstream_connect_failures == 1
    live = await stream_backends("live")
    port = await serve_tcp(
        proxy,
        {"c2": [(BACKEND_HOST, free_port(BACKEND_HOST)), (live.host, live.port)]},
        max_connect_attempts=wrappers_pb2.UInt32Value(value=2),
    )
    # The dead endpoint comes first in the schedule; the second attempt reaches the live one.
    assert await exchange(port) == b"live:hi<eof>"
    assert proxy.stats.upstream_connect_failures == 2


async def test_idle_timeout_closes_a_quiet_stream(
    fast_proxy: Proxy, stream_backends: StartBackend
) -> None:
    echo = await stream_backends("echo")
    port = await serve_tcp(
        fast_proxy,
        {"c": [(echo.host, echo.port)]},
        idle_timeout=duration_pb2.Duration(nanos=200_000_000),
    )
    reader, writer = await asyncio.open_connection(PROXY_HOST, port)
    writer.write(b"x")
    assert await asyncio.wait_for(reader.readexactly(6), DEADLINE) == b"echo:x"
    started = asyncio.get_running_loop().time()
    assert await asyncio.wait_for(reader.read(), DEADLINE) == b""
    assert asyncio.get_running_loop().time() - started >= 0.15
    writer.close()
