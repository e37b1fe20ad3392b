"""A tiny HTTP/1.1 echo backend on its own event loop thread, for the real-Envoy tests.

It answers every request with JSON describing what it received (method, path, headers), keeps
connections alive as Envoy expects of an upstream, delays its answer when asked through
``x-echo-delay-ms``, and accepts WebSocket upgrades by echoing raw bytes afterwards. Every request
is recorded so tests can wait (with a deadline) for one to arrive, e.g. a mirrored copy.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

_START_TIMEOUT = 5.0


@dataclass(frozen=True, slots=True)
class Received:
    backend: str
    method: str
    path: str
    headers: dict[str, list[str]] = field(default_factory=dict)

    def as_json(self) -> bytes:
        return json.dumps(
            {
                "backend": self.backend,
                "method": self.method,
                "path": self.path,
                "headers": self.headers,
            }
        ).encode()


class EchoServer:
    def __init__(self, name: str, host: str) -> None:
        self.name = name
        self.host = host
        self.port = 0
        self._received: list[Received] = []
        self._changed = threading.Condition()
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def start(self) -> None:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._listen(), self._loop)
        future.result(timeout=_START_TIMEOUT)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._shut_down(), self._loop).result(
            timeout=_START_TIMEOUT
        )
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=_START_TIMEOUT)
        self._loop.close()

    def wait_for(self, predicate: Callable[[Received], bool], timeout: float) -> Received:
        """The first request matching ``predicate``, waiting at most ``timeout`` seconds."""
        with self._changed:
            found: list[Received] = []

            def seen() -> bool:
                found[:] = [item for item in self._received if predicate(item)]
                return bool(found)

            if not self._changed.wait_for(seen, timeout=timeout):
                raise TimeoutError(f"{self.name} received no matching request in {timeout}s")
            return found[0]

    async def _shut_down(self) -> None:
        if self._server is not None:
            self._server.close()
        # Connections still open (a delayed answer, a WebSocket) end here, not at loop close.
        current = asyncio.current_task()
        handlers = [task for task in asyncio.all_tasks() if task is not current]
        for task in handlers:
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await self._answer_one(reader, writer):
                pass
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def _answer_one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Answer one request; False once the connection has become a WebSocket and ended."""
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        request_line, *lines = head.split("\r\n")[:-2]
        method, path, _ = request_line.split(" ", 2)
        headers: dict[str, list[str]] = {}
        for line in lines:
            name, value = line.split(":", 1)
            headers.setdefault(name.strip().lower(), []).append(value.strip())
        length = int(headers.get("content-length", ["0"])[0])
        if length:
            await reader.readexactly(length)
        received = Received(self.name, method, path, headers)
        with self._changed:
            self._received.append(received)
            self._changed.notify_all()
        if "websocket" in headers.get("upgrade", []):
            await _echo_websocket(reader, writer)
            return False
        delay_ms = int(headers.get("x-echo-delay-ms", ["0"])[0])
        if delay_ms:
            # The backend being slow is the behaviour under test, not a wait for a condition.
            await asyncio.sleep(delay_ms / 1000)
        body = received.as_json()
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
            + f"content-length: {len(body)}\r\n\r\n".encode()
            + body
        )
        await writer.drain()
        return True


async def _echo_websocket(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(
        b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n"
    )
    await writer.drain()
    while chunk := await reader.read(4096):
        writer.write(chunk)
        await writer.drain()


def parse_received(body: bytes) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(body)
    return data
