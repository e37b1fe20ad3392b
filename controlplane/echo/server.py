"""The echo backend's listeners: one asyncio server per address, TLS, and protocol detection.

A connection's protocol is chosen once: by ALPN when TLS negotiated it, otherwise by whether the
first bytes are the HTTP/2 connection preface. The chosen protocol then owns the transport.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
import weakref
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import cast

from controlplane.echo.http1 import Http1Connection
from controlplane.echo.http2 import PREFACE, Http2Connection
from controlplane.echo.listener import ListenerState, format_address, parse_listen_address
from controlplane.echo.reply import Origin

DEFAULT_NAME = "echo"
_STOP_GRACE_SECONDS = 2.0
_BACKLOG = 1024

# The name a client asked for, by TLS session: the handshake reports it only to the callback.
_server_names: weakref.WeakKeyDictionary[ssl.SSLObject, str] = weakref.WeakKeyDictionary()


def _remember_server_name(
    ssl_object: ssl.SSLObject, server_name: str | None, context: ssl.SSLContext
) -> None:
    if server_name is not None:
        _server_names[ssl_object] = server_name


def tls_context(certificate: Path, key: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate, key)
    context.set_alpn_protocols(["h2", "http/1.1"])
    context.sni_callback = _remember_server_name
    return context


def _origin(listener: ListenerState, transport: asyncio.BaseTransport) -> Origin:
    local = transport.get_extra_info("sockname")
    address = format_address(local[0], local[1]) if local else format_address(*listener.address)
    ssl_object = transport.get_extra_info("ssl_object")
    if ssl_object is None:
        return Origin(listener.backend, address)
    tls = {
        "sni": _server_names.get(ssl_object),
        "alpn": ssl_object.selected_alpn_protocol(),
        "version": ssl_object.version(),
    }
    return Origin(listener.backend, address, tls)


class _ProtocolSniffer(asyncio.Protocol):
    """Holds a new connection until ALPN or its first bytes tell HTTP/2 from HTTP/1.x."""

    def __init__(self, listener: ListenerState) -> None:
        self._listener = listener
        self._buffer = b""
        self._transport: asyncio.Transport | None = None
        self._origin = Origin(listener.backend, "")

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        self._listener.opened(self._transport)
        self._origin = _origin(self._listener, transport)
        alpn = self._origin.tls.get("alpn") if self._origin.tls else None
        if alpn == "h2":
            self._hand_over(Http2Connection(self._listener, self._origin))
        elif alpn == "http/1.1":
            self._hand_over(Http1Connection(self._listener, self._origin))

    def connection_lost(self, exc: Exception | None) -> None:
        if self._transport is not None:
            self._listener.closed(self._transport)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if self._buffer.startswith(PREFACE):
            self._hand_over(Http2Connection(self._listener, self._origin))
        elif not PREFACE.startswith(self._buffer):
            self._hand_over(Http1Connection(self._listener, self._origin))

    def _hand_over(self, protocol: asyncio.Protocol) -> None:
        transport = self._transport
        assert transport is not None
        self._listener.closed(transport)
        self._transport = None
        protocol.connection_made(transport)
        transport.set_protocol(protocol)
        if self._buffer:
            protocol.data_received(self._buffer)


class EchoServer:
    """Serves the echo backend on several addresses in this event loop."""

    def __init__(
        self,
        listen: Sequence[str],
        *,
        name: str = DEFAULT_NAME,
        tls_cert: Path | None = None,
        tls_key: Path | None = None,
    ) -> None:
        self.name = name
        self._requested = [parse_listen_address(text) for text in listen]
        self._tls = tls_context(tls_cert, tls_key) if tls_cert and tls_key else None
        self._listeners: list[ListenerState] = []
        self._servers: list[asyncio.Server] = []
        self._arrived = asyncio.Event()

    @property
    def addresses(self) -> list[tuple[str, int]]:
        """The bound addresses, in ``listen`` order (port 0 replaced by the chosen port)."""
        return [listener.address for listener in self._listeners]

    @property
    def requests(self) -> dict[tuple[str, int], int]:
        """Requests received so far, per bound address (a WebSocket upgrade counts as one)."""
        return {listener.address: listener.requests for listener in self._listeners}

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            for host, port in self._requested:
                listener = ListenerState(self.name, (host, port), self._arrived.set)
                server = await loop.create_server(
                    functools.partial(_ProtocolSniffer, listener),
                    host,
                    port,
                    ssl=self._tls,
                    reuse_address=True,
                    backlog=_BACKLOG,
                )
                bound = server.sockets[0].getsockname()
                listener.address = (bound[0], bound[1])
                self._listeners.append(listener)
                self._servers.append(server)
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        for server in self._servers:
            server.close()
        await asyncio.gather(
            *(listener.close_connections(_STOP_GRACE_SECONDS) for listener in self._listeners)
        )
        for server in self._servers:
            await server.wait_closed()
        self._servers.clear()

    async def wait_for_requests(
        self, count: int, *, address: tuple[str, int] | None = None, timeout: float = 5.0
    ) -> None:
        """Wait until ``count`` requests arrived (on ``address``, or on all together)."""
        async with asyncio.timeout(timeout):
            while self._count(address) < count:
                self._arrived.clear()
                await self._arrived.wait()

    def _count(self, address: tuple[str, int] | None) -> int:
        counts = self.requests
        return counts.get(address, 0) if address is not None else sum(counts.values())


@asynccontextmanager
async def serve_echo(
    listen: Sequence[str],
    *,
    name: str = DEFAULT_NAME,
    tls_cert: Path | None = None,
    tls_key: Path | None = None,
) -> AsyncIterator[EchoServer]:
    """Serve for the duration of an ``async with`` block: ``serve_echo(["127.0.40.1:0"])``."""
    echo = EchoServer(listen, name=name, tls_cert=tls_cert, tls_key=tls_key)
    await echo.start()
    try:
        yield echo
    finally:
        await echo.stop()
