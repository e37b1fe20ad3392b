"""Admin HTTP server: the index is generated from the endpoint table, unknown paths are 404,
only GET is served, a failing handler answers 503 without hurting the server, and hostile
input (garbage, oversized heads, silence) is dropped."""

from __future__ import annotations

import asyncio
import json

from controlplane.admin import AdminServer, Endpoint, Response


def boom(_: object) -> Response:
    raise RuntimeError("kaput")


async def request(port: int, raw: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(raw)
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    return data


async def test_admin_server_endpoints() -> None:
    server = AdminServer(
        [
            Endpoint("/hello", "says hello", lambda q: Response.json({"name": q.get("name", "")})),
            Endpoint("/boom", "always fails", boom),
        ]
    )
    _, port = await server.start("127.0.0.1", 0)
    try:
        index = await request(port, b"GET /debug HTTP/1.1\r\nHost: x\r\n\r\n")
        assert index.startswith(b"HTTP/1.1 200 OK")
        body = json.loads(index.split(b"\r\n\r\n", 1)[1])
        assert [e["path"] for e in body["endpoints"]] == ["/debug", "/hello", "/boom"]
        hello = await request(port, b"GET /hello?name=agw HTTP/1.1\r\n\r\n")
        assert json.loads(hello.split(b"\r\n\r\n", 1)[1]) == {"name": "agw"}
        assert (await request(port, b"GET /nope HTTP/1.1\r\n\r\n")).startswith(b"HTTP/1.1 404")
        assert (await request(port, b"POST /hello HTTP/1.1\r\n\r\n")).startswith(b"HTTP/1.1 405")
        assert (await request(port, b"GET /boom HTTP/1.1\r\n\r\n")).startswith(b"HTTP/1.1 503")
        assert (await request(port, b"garbage\r\n\r\n")).startswith(b"HTTP/1.1 400")
        assert await request(port, b"GET /" + b"a" * 40_000 + b" HTTP/1.1\r\n\r\n") == b""
        assert (await request(port, b"GET /hello HTTP/1.1\r\n\r\n")).startswith(b"HTTP/1.1 200")
    finally:
        await server.stop()
