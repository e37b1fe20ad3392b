"""The control plane's admin HTTP server: a table of debug endpoints (Istio's debug.go
habit: one row per endpoint generates the ``/debug`` index). Localhost by default; read-only;
secrets are redacted everywhere. A deliberately small HTTP/1.1 server: GET only, one request
per connection, bounded request size, so a hostile client costs nothing but a socket."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import structlog

log = structlog.get_logger("agw.admin")

MAX_REQUEST_BYTES = 16 * 1024
READ_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes
    content_type: str = "application/json"

    @classmethod
    def json(cls, data: Any, status: int = 200) -> Response:
        return cls(status, (json.dumps(data, indent=2, sort_keys=True) + "\n").encode())

    @classmethod
    def text(
        cls, text: str, status: int = 200, content_type: str = "text/plain; charset=utf-8"
    ) -> Response:
        return cls(status, text.encode(), content_type)


Handler = Callable[[Mapping[str, str]], Response]


@dataclass(frozen=True, slots=True)
class Endpoint:
    path: str
    help: str
    handler: Handler


_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    503: "Service Unavailable",
}


class AdminServer:
    def __init__(self, endpoints: list[Endpoint]) -> None:
        index = Endpoint("/debug", "this index", self._index)
        self.endpoints = [index, *endpoints]
        self._by_path = {e.path: e for e in self.endpoints}
        self._server: asyncio.Server | None = None

    async def start(self, host: str, port: int) -> tuple[str, int]:
        self._server = await asyncio.start_server(self._serve, host, port, limit=MAX_REQUEST_BYTES)
        sockname = self._server.sockets[0].getsockname()
        return str(sockname[0]), int(sockname[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def handle(self, method: str, target: str) -> Response:
        url = urlsplit(target)
        endpoint = self._by_path.get(url.path.rstrip("/") or "/")
        if endpoint is None:
            return Response.json({"error": f"no endpoint {url.path}; see /debug"}, 404)
        if method not in ("GET", "HEAD"):
            return Response.json({"error": "only GET is supported"}, 405)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        try:
            return endpoint.handler(query)
        except Exception as error:  # a debug page must never take the control plane down
            log.exception("admin handler failed", path=url.path)
            return Response.json({"error": f"{type(error).__name__}: {error}"}, 503)

    def _index(self, _: Mapping[str, str]) -> Response:
        return Response.json(
            {"endpoints": [{"path": e.path, "help": e.help} for e in self.endpoints]}
        )

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_TIMEOUT_SECONDS)
            method, target = _request_line(head)
            response = (
                self.handle(method, target)
                if method
                else Response.json({"error": "bad request"}, 400)
            )
            body = b"" if method == "HEAD" else response.body
            writer.write(
                f"HTTP/1.1 {response.status} {_REASONS.get(response.status, 'Error')}\r\n"
                f"Content-Type: {response.content_type}\r\nContent-Length: {len(response.body)}\r\n"
                "Connection: close\r\n\r\n".encode()
                + body
            )
            await writer.drain()
        except (
            TimeoutError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            ConnectionError,
        ):
            pass
        finally:
            writer.close()


def _request_line(head: bytes) -> tuple[str, str]:
    line = head.split(b"\r\n", 1)[0].decode("latin-1")
    parts = line.split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        return "", ""
    return parts[0], parts[1]
