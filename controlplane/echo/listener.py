"""One listening address of the echo backend: its textual form and what its connections share."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from controlplane.echo.errors import ListenAddressInvalid


def parse_listen_address(text: str) -> tuple[str, int]:
    """``"127.0.0.1:8080"`` or ``"[::1]:8080"`` as ``(host, port)``; port 0 picks a free one."""
    host, colon, port_text = text.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not colon or not host or not port_text.isdigit() or int(port_text) > 65535:
        raise ListenAddressInvalid(f"{text!r} is not ADDR:PORT")
    return host, int(port_text)


def format_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class ListenerState:
    """What the connections of one listening address share: the backend, counters, the open set.

    The set lets a stop close every connection, including idle keep-alive ones a server's
    ``close()`` leaves open.
    """

    def __init__(self, backend: str, address: tuple[str, int], on_request: Callable[[], None]):
        self.backend = backend
        self.address = address
        self.requests = 0
        self._on_request = on_request
        self._connections: set[asyncio.Transport] = set()
        self._idle = asyncio.Event()
        self._idle.set()

    def opened(self, transport: asyncio.Transport) -> None:
        self._connections.add(transport)
        self._idle.clear()

    def closed(self, transport: asyncio.Transport) -> None:
        self._connections.discard(transport)
        if not self._connections:
            self._idle.set()

    def count_request(self) -> None:
        self.requests += 1
        self._on_request()

    async def close_connections(self, grace: float) -> None:
        """Close every connection, flushing what was written; abort those still open after grace."""
        for transport in list(self._connections):
            transport.close()
        try:
            async with asyncio.timeout(grace):
                await self._idle.wait()
        except TimeoutError:
            for transport in list(self._connections):
                transport.abort()
