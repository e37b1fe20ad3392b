"""A raw HTTP/1.1 test client: send exact bytes, read responses with httptools."""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, field
from typing import Any

import httptools


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    chunked: bool = False

    def header(self, name: str) -> str | None:
        values = [v for k, v in self.headers if k == name.lower()]
        return ",".join(values) if values else None

    def json(self) -> Any:
        return json.loads(self.body)

    def echoed(self, name: str) -> list[str]:
        """Values of a request header as the echo backend received it."""
        return [v for k, v in self.json()["headers"] if k == name.lower()]


class _Collector:
    def __init__(self) -> None:
        self.done: list[Response] = []
        self.current: Response | None = None
        self.headers_done = False
        self.parser: httptools.HttpResponseParser | None = None

    def on_message_begin(self) -> None:
        self.current = Response(0)
        self.headers_done = False

    def on_header(self, name: bytes, value: bytes) -> None:
        assert self.current is not None
        self.current.headers.append((name.decode().lower(), value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        assert self.current is not None and self.parser is not None
        self.current.status = self.parser.get_status_code()
        self.headers_done = True

    def on_body(self, body: bytes) -> None:
        assert self.current is not None
        self.current.body += body

    def on_chunk_header(self) -> None:
        if self.current is not None:
            self.current.chunked = True

    def on_message_complete(self) -> None:
        assert self.current is not None
        self.done.append(self.current)
        self.current = None


class Connection:
    """One client connection; responses are read in order."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.collector = _Collector()
        self.parser = self.collector.parser = httptools.HttpResponseParser(self.collector)
        self.closed = False
        self.leftover = b""

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer)

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def read_response(self, timeout: float = 5.0, head_only: bool = False) -> Response:
        async with asyncio.timeout(timeout):
            while not self.collector.done:
                if head_only and self.collector.headers_done and self.collector.current:
                    response = self.collector.current
                    self.parser = httptools.HttpResponseParser(self.collector)
                    self.collector.parser = self.parser
                    self.collector.current = None
                    return response
                data = await self.reader.read(65536)
                if not data:
                    self.closed = True
                    current = self.collector.current
                    if current is not None and self.collector.headers_done:
                        self.collector.current = None
                        return current  # read-until-close body
                    raise ConnectionError("closed before a complete response")
                try:
                    self.parser.feed_data(data)
                except httptools.HttpParserUpgrade as upgrade:
                    self.leftover = data[upgrade.args[0] :]
        return self.collector.done.pop(0)

    async def request(self, data: bytes, timeout: float = 5.0) -> Response:
        await self.send(data)
        return await self.read_response(timeout, head_only=data.startswith(b"HEAD "))

    async def read_until_closed(self, timeout: float = 5.0) -> bytes:
        chunks: list[bytes] = []
        async with asyncio.timeout(timeout):
            while True:
                data = await self.reader.read(65536)
                if not data:
                    self.closed = True
                    return b"".join(chunks)
                chunks.append(data)

    async def is_closed_by_peer(self, timeout: float = 5.0) -> bool:
        """True when the proxy closes (or resets) the connection within ``timeout``."""
        try:
            async with asyncio.timeout(timeout):
                while data := await self.reader.read(65536):
                    del data
        except ConnectionError:
            return True
        except TimeoutError:
            return False
        return True

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self.writer.wait_closed()


def get(path: str = "/", host: str = "example.com", headers: dict[str, str] | None = None) -> bytes:
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def request_bytes(
    method: str,
    path: str = "/",
    host: str = "example.com",
    headers: dict[str, str] | None = None,
    body: bytes = b"",
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    if body and not any(
        k.lower() in ("content-length", "transfer-encoding") for k in headers or {}
    ):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def fetch(host: str, port: int, data: bytes, timeout: float = 5.0) -> Response:
    connection = await Connection.open(host, port)
    try:
        return await connection.request(data, timeout)
    finally:
        await connection.close()
