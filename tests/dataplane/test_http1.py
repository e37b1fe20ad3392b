"""HTTP/1.1 mechanics of the proxy, end to end on loopback with a real backend.

Covers keep-alive with upstream connection reuse, pipelining (ordered answers, local replies in
between), the parser fed one byte at a time and with trailing data, chunked bodies both ways,
large streamed bodies, Expect: 100-continue, WebSocket passthrough (and 403 when not enabled),
request-smuggling defences, header limits, HTTP/1.0, HEAD, missing Host, and the route,
header-read and idle timeouts. Routing features are in test_routing_features.py.
"""

from __future__ import annotations

import asyncio
import socket

from dataplane.proxy import Proxy
from tests.dataplane import resources as r
from tests.dataplane.client import Connection, fetch, get, request_bytes
from tests.dataplane.conftest import Backends, Serve


def seconds(value: float) -> dict[str, int]:
    return {"seconds": int(value), "nanos": int((value % 1) * 1e9)}


async def test_keep_alive_reuses_one_upstream_connection(serve: Serve, backends: Backends) -> None:
    web = await backends("web")
    host, port = await serve(r.to_cluster("web"), clusters={"web": [web]})
    connection = await Connection.open(host, port)
    for index in range(20):
        response = await connection.request(get(f"/{index}"))
        assert response.json()["target"] == f"/{index}"
    await connection.close()
    assert web.connections == 1


async def test_pipelined_requests_are_answered_in_order(serve: Serve, backends: Backends) -> None:
    web = await backends("web")
    host, port = await serve(r.to_cluster("web", "/ok"), clusters={"web": [web]})
    connection = await Connection.open(host, port)
    await connection.send(
        get("/ok/1", headers={"x-backend-delay": "0.2"})
        + get("/missing")
        + request_bytes("POST", "/ok/2", body=b"payload")
        + get("/ok/3")
    )
    answers = [await connection.read_response() for _ in range(4)]
    assert [a.status for a in answers] == [200, 404, 200, 200]
    assert answers[0].json()["target"] == "/ok/1"
    assert answers[2].json()["body"] == "payload"
    assert answers[3].json()["target"] == "/ok/3"
    await connection.close()


async def test_parser_fed_one_byte_at_a_time_and_with_trailing_data(
    proxy: Proxy, serve: Serve, backends: Backends
) -> None:
    web = await backends("web")
    await serve(r.to_cluster("web"), clusters={"web": [web]})
    bound = next(iter(proxy.listeners.values()))
    ours, theirs = socket.socketpair()
    loop = asyncio.get_running_loop()
    _, protocol = await loop.connect_accepted_socket(bound._new_connection, ours)
    first = request_bytes("POST", "/byte", headers={"Transfer-Encoding": "chunked"})
    first += b"3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n"
    second = get("/trailing")
    # Feed the protocol directly so each call really carries one byte, then both at once.
    for index in range(len(first)):
        protocol.data_received(first[index : index + 1])
    reader, writer = await asyncio.open_connection(sock=theirs)
    client = Connection(reader, writer)
    answer = await client.read_response()
    assert answer.json()["body"] == "abcdefg"
    protocol.data_received(second + get("/third"))
    assert (await client.read_response()).json()["target"] == "/trailing"
    assert (await client.read_response()).json()["target"] == "/third"
    await client.close()


async def test_chunked_bodies_both_ways(serve: Serve, backends: Backends) -> None:
    web = await backends("web")
    host, port = await serve(r.to_cluster("web"), clusters={"web": [web]})
    body = b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    data = request_bytes(
        "POST", "/", headers={"Transfer-Encoding": "chunked", "x-backend-chunks": "3"}
    )
    response = await fetch(host, port, data + body)
    assert response.chunked
    assert response.json()["body"] == "hello world"
    assert web.received[-1].header("transfer-encoding") == "chunked"


async def test_large_bodies_stream_both_ways(serve: Serve, backends: Backends) -> None:
    web = await backends("web")
    host, port = await serve(r.to_cluster("web"), clusters={"web": [web]})
    upload = bytes(range(256)) * (8 * 4096)  # 8 MiB
    response = await fetch(host, port, request_bytes("PUT", "/", body=upload), timeout=30)
    assert response.json() == {"backend": "web", "size": len(upload), "sum": sum(upload) % 65521}
    connection = await Connection.open(host, port)
    await connection.send(get("/", headers={"x-backend-size": str(16 << 20)}))
    await asyncio.sleep(0)  # the client reads late; the proxy must hold the upstream back
    download = await connection.read_response(timeout=30)
    assert len(download.body) == 16 << 20
    await connection.close()


async def test_expect_100_continue(serve: Serve, backends: Backends) -> None:
    web = await backends("web")
    host, port = await serve(r.to_cluster("web"), clusters={"web": [web]})
    connection = await Connection.open(host, port)
    head = request_bytes("POST", "/", headers={"Expect": "100-continue", "Content-Length": "4"})
    await connection.send(head)
    interim = await connection.reader.readuntil(b"\r\n\r\n")
    assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
    response = await connection.request(b"body")
    assert response.json()["body"] == "body"
    assert web.received[-1].header("expect") is None
    await connection.close()


async def test_websocket_passthrough_and_403_without_upgrade_config(
    serve: Serve, backends: Backends
) -> None:
    web = await backends("web")
    allowed = r.to_cluster("web", "/ws")
    allowed.route.upgrade_configs.add(upgrade_type="websocket")
    host, port = await serve(allowed, r.to_cluster("web", "/plain"), clusters={"web": [web]})
    upgrade = {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13"}
    connection = await Connection.open(host, port)
    response = await connection.request(get("/ws", headers=upgrade))
    assert response.status == 101
    assert response.header("upgrade") == "websocket"
    for message in (b"frame-one", b"\x00\xffbinary"):
        await connection.send(message)
        async with asyncio.timeout(5):
            echoed = b""
            while len(echoed) < len(message):
                echoed += await connection.reader.read(100)
        assert echoed == message
    await connection.close()
    refused = await fetch(host, port, get("/plain", headers=upgrade))
    assert refused.status == 403


async def test_request_smuggling_defences(serve: Serve, backends: Backends) -> None:
    web = await backends("web")
    host, port = await serve(r.to_cluster("web"), clusters={"web": [web]})
    attacks = [
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        b"GET / HTTP/1.1\r\n\r\n",
    ]
    for attack in attacks:
        connection = await Connection.open(host, port)
        await connection.send(attack)
        response = await connection.read_response()
        assert response.status == 400, attack
        assert await connection.is_closed_by_peer(), attack
    assert all(request.target != "/smuggled" for request in web.received)


async def test_header_limits_answer_431(serve: Serve, backends: Backends) -> None:
    web = await backends("web")
    host, port = await serve(r.to_cluster("web"), clusters={"web": [web]})
    huge = await fetch(host, port, get("/", headers={"x-big": "a" * 70_000}))
    assert huge.status == 431
    many = await fetch(host, port, get("/", headers={f"x-h{i}": "v" for i in range(120)}))
    assert many.status == 431
    assert (await fetch(host, port, get("/"))).status == 200


async def test_http10_head_and_missing_host(serve: Serve, backends: Backends) -> None:
    web = await backends("web")
    host, port = await serve(r.to_cluster("web"), clusters={"web": [web]})
    old = await fetch(host, port, b"GET / HTTP/1.0\r\nHost: a\r\n\r\n")
    assert old.status == 426
    connection = await Connection.open(host, port)
    head = await connection.request(request_bytes("HEAD", "/"))
    assert head.status == 200 and head.body == b"" and head.header("content-length")
    assert (await connection.request(get("/after-head"))).json()["target"] == "/after-head"
    await connection.close()
    host, port = await serve(
        r.to_cluster("web"), clusters={"web": [web]}, http_protocol_options={"accept_http_10": True}
    )
    connection = await Connection.open(host, port)
    await connection.send(b"GET /ten HTTP/1.0\r\nHost: a\r\n\r\n")
    accepted = await connection.read_response()
    assert accepted.status == 200 and accepted.json()["target"] == "/ten"
    assert await connection.is_closed_by_peer()


async def test_route_timeout_504_and_zero_disables(serve: Serve, backends: Backends) -> None:
    web = await backends("web")
    slow = r.to_cluster("web", "/slow", timeout=seconds(0.3))
    unlimited = r.to_cluster("web", "/unlimited", timeout=seconds(0))
    host, port = await serve(slow, unlimited, clusters={"web": [web]})
    timed_out = await fetch(host, port, get("/slow", headers={"x-backend-delay": "2"}))
    assert (timed_out.status, timed_out.body) == (504, b"upstream request timeout")
    fine = await fetch(host, port, get("/unlimited", headers={"x-backend-delay": "0.5"}))
    assert fine.status == 200


async def test_header_read_and_idle_timeouts_close_connections(
    serve: Serve, backends: Backends
) -> None:
    web = await backends("web")
    host, port = await serve(
        r.to_cluster("web"),
        clusters={"web": [web]},
        request_headers_timeout=seconds(0.3),
        common_http_protocol_options={"idle_timeout": seconds(0.5)},
    )
    slow_client = await Connection.open(host, port)
    await slow_client.send(b"GET / HTTP/1.1\r\nHost: a\r\nX-Partial: ")
    late = await slow_client.read_response(timeout=5)
    assert late.status == 408
    assert await slow_client.is_closed_by_peer()
    idle = await Connection.open(host, port)
    assert (await idle.request(get("/"))).status == 200
    assert await idle.is_closed_by_peer(timeout=5)
