"""A real HTTP/1.1 backend for the data-plane tests: it echoes what it received as JSON.

Request headers steer it: ``x-backend-status`` (answer that status), ``x-backend-delay``
(seconds before answering), ``x-backend-chunks`` (answer in that many chunks, no length),
``x-backend-size`` (answer that many bytes instead of the JSON echo),
``x-backend-close`` (answer then close). A WebSocket upgrade is accepted with 101 and every
byte after it is echoed back. Every request is recorded in ``received``.
"""

from __future__ import annotations

import asyncio
import json
import socket
from dataclasses import dataclass, field

import httptools


@dataclass
class ReceivedRequest:
    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes = b""
    # Position among the requests this backend received, from 0.
    seq: int = 0

    def header(self, name: str) -> str | None:
        values = [v for k, v in self.headers if k == name.lower()]
        return ",".join(values) if values else None

    def header_values(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k == name.lower()]


@dataclass
class EchoBackend:
    name: str
    host: str = "127.0.0.1"
    port: int = 0
    received: list[ReceivedRequest] = field(default_factory=list)
    connections: int = 0
    # The first ``fail_first`` requests are answered 503; the first ``stall_first`` wait 2 s.
    fail_first: int = 0
    stall_first: int = 0
    server: asyncio.Server | None = None
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self) -> EchoBackend:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(
            lambda: _EchoProtocol(self), self.host, self.port, reuse_address=True
        )
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            for transport in list(_open_transports.get(id(self), [])):
                transport.abort()
            await self.server.wait_closed()

    def record(self, request: ReceivedRequest) -> None:
        self.received.append(request)
        self.arrived.set()

    async def wait_for_requests(self, count: int, timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            while len(self.received) < count:
                self.arrived.clear()
                await self.arrived.wait()


_open_transports: dict[int, set[asyncio.Transport]] = {}


class _EchoProtocol(asyncio.Protocol):
    def __init__(self, backend: EchoBackend) -> None:
        self.backend = backend
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.tunnel = False
        self.url = b""
        self.headers: list[tuple[str, str]] = []
        self.body: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.backend.connections += 1
        _open_transports.setdefault(id(self.backend), set()).add(transport)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.transport is not None:
            _open_transports.get(id(self.backend), set()).discard(self.transport)

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        if self.tunnel:
            self.transport.write(data)
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:
            self.tunnel = True
            rest = data[upgrade.args[0] :]
            self.transport.write(
                b"HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\n"
                b"upgrade: websocket\r\n\r\n" + rest
            )
        except httptools.HttpParserError:
            self.transport.close()

    def on_message_begin(self) -> None:
        self.url = b""
        self.headers = []
        self.body = []

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.decode().lower(), value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        if self.parser.should_upgrade():
            self._record()

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        if self.tunnel or self.parser.should_upgrade():
            return
        request = self._record()
        delay = float(request.header("x-backend-delay") or 0)
        if request.seq < self.backend.stall_first:
            delay = 2.0
        keep_alive = self.parser.should_keep_alive()
        if delay:
            asyncio.get_running_loop().call_later(delay, self._answer, request, keep_alive)
        else:
            self._answer(request, keep_alive)

    def _record(self) -> ReceivedRequest:
        request = ReceivedRequest(
            self.parser.get_method().decode(),
            self.url.decode(),
            self.headers,
            b"".join(self.body),
            len(self.backend.received),
        )
        self.backend.record(request)
        return request

    def _answer(self, request: ReceivedRequest, keep_alive: bool) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        status = int(request.header("x-backend-status") or 200)
        if request.seq < self.backend.fail_first:
            status = 503
        size = request.header("x-backend-size")
        payload = (
            b"x" * int(size)
            if size
            else json.dumps(
                {
                    "backend": self.backend.name,
                    "method": request.method,
                    "target": request.target,
                    "headers": request.headers,
                    "body": request.body.decode("latin-1"),
                }
            ).encode()
        )
        if not size and len(request.body) > 4096:
            # Large uploads are echoed by size and checksum, not byte for byte.
            payload = json.dumps(
                {
                    "backend": self.backend.name,
                    "size": len(request.body),
                    "sum": sum(request.body) % 65521,
                }
            ).encode()
        close = bool(request.header("x-backend-close")) or not keep_alive
        head = [f"HTTP/1.1 {status} X", "content-type: application/json", "server: echo"]
        head += [f"x-echo-{k}: {v}" for k, v in request.headers if k.startswith("x-set-")]
        chunks = int(request.header("x-backend-chunks") or 0)
        if close:
            head.append("connection: close")
        if request.method == "HEAD":
            head.append(f"content-length: {len(payload)}")
            transport.write(("\r\n".join(head) + "\r\n\r\n").encode())
        elif chunks:
            head.append("transfer-encoding: chunked")
            step = -(-len(payload) // chunks)
            parts = [payload[i : i + step] for i in range(0, len(payload), step)]
            framed = b"".join(b"%x\r\n%b\r\n" % (len(p), p) for p in parts)
            transport.write(("\r\n".join(head) + "\r\n\r\n").encode() + framed + b"0\r\n\r\n")
        else:
            head.append(f"content-length: {len(payload)}")
            transport.write(("\r\n".join(head) + "\r\n\r\n").encode() + payload)
        if close:
            transport.close()
