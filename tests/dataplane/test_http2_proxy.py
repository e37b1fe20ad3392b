"""HTTP/2 from clients, end to end on loopback: the proxy in front of a real HTTP/1.1 backend.

Covers prior knowledge on a plain listener and ALPN h2 on TLS (httpx), routing and header
handling as for HTTP/1.1, many concurrent streams on one connection, large bodies both ways
with a slow-reading client holding the upstream back, client resets reaching the upstream,
GOAWAY when a listener drains, route timeouts and retries on a stream, malformed requests reset,
header limits, advertised stream limits, and a codec_type HTTP1 listener that ignores the
preface. h2c upstreams and gRPC are in test_http2_upstream.py; the codec alone in
test_http2_codec.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from dataclasses import dataclass, field
from typing import Any

import httpx
from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.events import (
    ConnectionTerminated,
    DataReceived,
    RemoteSettingsChanged,
    ResponseReceived,
    StreamEnded,
    StreamReset,
    TrailersReceived,
)
from h2.settings import SettingCodes

from dataplane.config import EMPTY_CONFIG
from dataplane.http2 import frames as f
from dataplane.http2.downstream import Http2Connection
from dataplane.http2.sending import BACKLOG_LIMIT
from dataplane.proxy import Proxy
from tests.dataplane import resources as r
from tests.dataplane.conftest import PROXY_HOST, Backends, Serve, free_port
from tests.dataplane.test_http1 import seconds
from tests.dataplane.test_tls import certificate, tls_config


@dataclass
class Answer:
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytearray = field(default_factory=bytearray)
    trailers: list[tuple[bytes, bytes]] | None = None
    reset: int | None = None
    ended: bool = False

    @property
    def status(self) -> int:
        return int(dict(self.headers)[b":status"])


class H2Client:
    """A raw HTTP/2 client on the h2 state machine: frames and flow control under test control."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        config = H2Configuration(
            client_side=True,
            header_encoding=None,
            validate_outbound_headers=False,
            normalize_outbound_headers=False,
        )
        self.h2 = H2Connection(config)
        self.h2.initiate_connection()
        self.answers: dict[int, Answer] = {}
        self.auto_ack = True
        self.goaway: int | None = None
        self.remote_settings: dict[int, int] = {}

    @classmethod
    async def open(cls, port: int) -> H2Client:
        reader, writer = await asyncio.open_connection(PROXY_HOST, port)
        client = cls(reader, writer)
        await client.flush()
        return client

    async def flush(self) -> None:
        self.writer.write(self.h2.data_to_send())
        await self.writer.drain()

    async def send(
        self,
        headers: list[tuple[bytes, bytes]],
        body: bytes = b"",
        trailers: list[tuple[bytes, bytes]] | None = None,
    ) -> int:
        stream_id = int(self.h2.get_next_available_stream_id())
        self.answers[stream_id] = Answer()
        self.h2.send_headers(stream_id, headers, end_stream=not body and trailers is None)
        view = memoryview(body)
        while view:  # each pass sends at least one byte or waits for window
            size = min(
                len(view),
                self.h2.local_flow_control_window(stream_id),
                self.h2.max_outbound_frame_size,
            )
            if not size:
                await self.flush()
                await self.pump()
                continue
            last = size == len(view) and trailers is None
            self.h2.send_data(stream_id, bytes(view[:size]), end_stream=last)
            view = view[size:]
        if trailers is not None:
            self.h2.send_headers(stream_id, trailers, end_stream=True)
        await self.flush()
        return stream_id

    async def pump(self) -> None:
        data = await self.reader.read(65536)
        if not data:
            raise ConnectionError("closed by the proxy")
        for event in self.h2.receive_data(data):
            answer = self.answers.get(getattr(event, "stream_id", 0) or 0)
            if isinstance(event, ResponseReceived) and answer is not None:
                answer.headers = event.headers
            elif isinstance(event, DataReceived) and answer is not None:
                answer.body += event.data
                if self.auto_ack:
                    self.h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, TrailersReceived) and answer is not None:
                answer.trailers = event.headers
            elif isinstance(event, StreamEnded) and answer is not None:
                answer.ended = True
            elif isinstance(event, StreamReset) and answer is not None:
                answer.reset = event.error_code
            elif isinstance(event, ConnectionTerminated):
                self.goaway = event.last_stream_id
            elif isinstance(event, RemoteSettingsChanged):
                self.remote_settings.update(
                    {k: v.new_value for k, v in event.changed_settings.items()}
                )
        await self.flush()

    async def answer(self, stream_id: int, timeout: float = 5.0) -> Answer:
        answer = self.answers[stream_id]
        async with asyncio.timeout(timeout):
            while not answer.ended and answer.reset is None:
                await self.pump()
        return answer

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self.writer.wait_closed()


def request(path: str = "/", method: bytes = b"GET", **headers: str) -> list[tuple[bytes, bytes]]:
    fields = [(b":method", method), (b":path", path.encode()), (b":scheme", b"http"),
              (b":authority", b"example.com")]  # fmt: skip
    return fields + [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()]


def echoed(response: httpx.Response, name: str) -> list[str]:
    return [value for key, value in response.json()["headers"] if key == name]


async def test_prior_knowledge_routes_and_forwards_like_http1(
    serve: Serve, backends: Backends
) -> None:
    web = await backends("web")
    route = r.to_cluster("web", "/api")
    route.request_headers_to_add.append(r.header("x-added", "yes"))
    host, port = await serve(route, clusters={"web": [web]})
    async with httpx.AsyncClient(http1=False, http2=True) as client:
        response = await client.get(f"http://{host}:{port}/api/x?q=1", headers={"x-in": "a"})
        missing = await client.get(f"http://{host}:{port}/nothing")
    assert response.http_version == "HTTP/2"
    assert response.json()["target"] == "/api/x?q=1"
    assert echoed(response, "host") == [f"{host}:{port}"]
    assert echoed(response, "x-in") == ["a"] and echoed(response, "x-added") == ["yes"]
    assert echoed(response, "x-forwarded-proto") == ["http"]
    assert len(echoed(response, "x-request-id")[0]) == 36
    assert response.headers["server"] == "agw" and "date" in response.headers
    assert missing.status_code == 404


async def test_tls_alpn_selects_h2(proxy: Proxy, backends: Backends) -> None:
    web = await backends("web")
    certs = {
        "secret-a": certificate("a", ["a.example.com"]),
        "secret-b": certificate("b", ["*.b.example.com"]),
        "secret-default": certificate("default", ["fallback.example.com"]),
    }
    port = free_port()
    await proxy.apply(tls_config(port, certs, web))
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    async with httpx.AsyncClient(http1=True, http2=True, verify=context) as client:

        async def get(path: str, host: str) -> httpx.Response:
            return await client.get(
                f"https://{PROXY_HOST}:{port}{path}",
                headers={"host": host},
                extensions={"sni_hostname": "a.example.com"},
            )

        response = await get("/a/x", "a.example.com")
        # Another chain's host on this connection (coalescing): 421 Misdirected Request.
        misdirected = await get("/b/x", "x.b.example.com")
        unknown_host = await get("/a/y", "unknown.example.org")
    assert response.http_version == "HTTP/2"
    assert echoed(response, "x-forwarded-proto") == ["https"]
    assert misdirected.status_code == 421
    assert unknown_host.status_code == 200


async def test_many_concurrent_streams_on_one_connection(serve: Serve, backends: Backends) -> None:
    web = await backends("web")
    host, port = await serve(r.to_cluster("web"), clusters={"web": [web]})
    limits = httpx.Limits(max_connections=1)
    async with httpx.AsyncClient(http1=False, http2=True, limits=limits) as client:
        responses = await asyncio.gather(
            *(client.get(f"http://{host}:{port}/s/{i}") for i in range(300))
        )
    assert [response.json()["target"] for response in responses] == [f"/s/{i}" for i in range(300)]
    assert len({request.target for request in web.received}) == 300


async def test_large_bodies_both_ways_with_a_slow_reader(
    proxy: Proxy, serve: Serve, backends: Backends
) -> None:
    web = await backends("web")
    host, port = await serve(r.to_cluster("web"), clusters={"web": [web]})
    upload = bytes(range(256)) * (8 * 4096)  # 8 MiB
    async with httpx.AsyncClient(http1=False, http2=True, timeout=30) as client:
        response = await client.put(f"http://{host}:{port}/", content=upload)
    assert response.json() == {"backend": "web", "size": len(upload), "sum": sum(upload) % 65521}
    client_h2 = await H2Client.open(port)
    client_h2.auto_ack = False
    size = 16 << 20
    stream_id = await client_h2.send(request("/", x_backend_size=str(size)))
    listener = next(iter(proxy.listeners.values()))

    def stalled_stream() -> Any:
        for connection in listener.connections:
            if isinstance(connection, Http2Connection):
                stream = connection.codec.streams.get(stream_id)
                if stream is not None and stream.stalled:
                    return stream
        return None

    # The client reads nothing and returns no window: the proxy must stall the stream.
    async with asyncio.timeout(10):
        while (stream := stalled_stream()) is None:
            await asyncio.sleep(0.01)
    # The proxy stopped reading the upstream: what it holds is the limit plus one read.
    assert stream.exchange.upstream.transport.is_reading() is False
    assert stream.backlog_size <= BACKLOG_LIMIT + 512 * 1024
    client_h2.auto_ack = True
    answer = client_h2.answers[stream_id]
    client_h2.h2.acknowledge_received_data(len(answer.body), stream_id)
    await client_h2.flush()
    answer = await client_h2.answer(stream_id, timeout=30)
    assert answer.status == 200 and len(answer.body) == size
    await client_h2.close()


async def test_client_reset_cancels_the_upstream_request(serve: Serve, backends: Backends) -> None:
    web = await backends("web")
    _host, port = await serve(r.to_cluster("web"), clusters={"web": [web]})
    client = await H2Client.open(port)
    stream_id = await client.send(request("/slow", x_backend_delay="5"))
    await web.wait_for_requests(1)
    connections_before = web.connections
    client.h2.reset_stream(stream_id)
    await client.flush()
    # The upstream connection is aborted (a delayed answer would otherwise still come back
    # on it), and the next request needs a new one.
    second = await client.send(request("/next"))
    assert (await client.answer(second)).status == 200
    assert web.connections == connections_before + 1
    await client.close()


async def test_draining_listener_sends_goaway_and_finishes_in_flight(
    proxy: Proxy, serve: Serve, backends: Backends
) -> None:
    web = await backends("web")
    _host, port = await serve(r.to_cluster("web"), clusters={"web": [web]})
    client = await H2Client.open(port)
    stream_id = await client.send(request("/in-flight", x_backend_delay="0.3"))
    await web.wait_for_requests(1)
    await proxy.apply(EMPTY_CONFIG)
    # The h2 library treats GOAWAY as the end of everything, so frames are read here.
    data = b""
    goaway = status = None
    async with asyncio.timeout(5):
        while True:
            frames, data = split_frames(data + await client.reader.read(65536))
            for kind, flags, frame_stream, payload in frames:
                if kind == f.GOAWAY:
                    goaway = f.read_u32(payload, 0)
                elif kind == f.HEADERS and frame_stream == stream_id:
                    status = dict(client.h2.decoder.decode(payload, raw=True))[b":status"]
                elif kind == f.DATA and frame_stream == stream_id and flags & f.FLAG_END_STREAM:
                    break
            else:
                continue
            break
    assert (goaway, status) == (stream_id, b"200")
    await client.close()


def split_frames(data: bytes) -> tuple[list[tuple[int, int, int, bytes]], bytes]:
    frames = []
    while len(data) >= 9:
        high, low, kind, flags, stream_id = f.FRAME_HEADER.unpack_from(data, 0)
        length = high << 16 | low
        if len(data) < 9 + length:
            break
        frames.append((kind, flags, stream_id, data[9 : 9 + length]))
        data = data[9 + length :]
    return frames, data


async def test_route_timeout_and_retry_on_a_stream(serve: Serve, backends: Backends) -> None:
    web, flaky = await backends("web"), await backends("flaky")
    flaky.fail_first = 1
    slow = r.to_cluster("web", "/slow", timeout=seconds(0.2))
    retried = r.to_cluster("flaky", "/retry")
    retried.route.retry_policy.retry_on = "5xx"
    retried.route.retry_policy.num_retries.value = 1
    _host, port = await serve(slow, retried, clusters={"web": [web], "flaky": [flaky]})
    client = await H2Client.open(port)
    timed_out = await client.answer(await client.send(request("/slow", x_backend_delay="2")))
    assert (timed_out.status, bytes(timed_out.body)) == (504, b"upstream request timeout")
    answer = await client.answer(await client.send(request("/retry", b"POST"), body=b"again"))
    assert answer.status == 200
    assert [received.body for received in flaky.received] == [b"again", b"again"]
    await client.close()


async def test_malformed_requests_are_reset(serve: Serve, backends: Backends) -> None:
    web = await backends("web")
    _host, port = await serve(r.to_cluster("web"), clusters={"web": [web]})
    client = await H2Client.open(port)
    hop = await client.answer(await client.send(request("/", connection="keep-alive")))
    length = await client.answer(
        await client.send(request("/", b"POST", content_length="5"), body=b"0123456789")
    )
    fine = await client.answer(await client.send(request("/fine")))
    assert hop.reset == 1 and length.reset == 1  # PROTOCOL_ERROR
    assert fine.status == 200
    assert [received.target for received in web.received if received.target != "/"] == ["/fine"]
    await client.close()


async def test_header_count_limit_and_advertised_stream_limit(
    serve: Serve, backends: Backends
) -> None:
    web = await backends("web")
    _host, port = await serve(
        r.to_cluster("web"),
        clusters={"web": [web]},
        common_http_protocol_options={"max_headers_count": {"value": 10}},
        http2_protocol_options={"max_concurrent_streams": {"value": 5}},
    )
    client = await H2Client.open(port)
    many = request("/") + [(b"x-h%d" % i, b"v") for i in range(20)]
    answer = await client.answer(await client.send(many))
    assert answer.status == 431
    assert client.remote_settings[SettingCodes.MAX_CONCURRENT_STREAMS] == 5
    await client.close()


async def test_idle_connection_gets_goaway_and_is_closed(serve: Serve, backends: Backends) -> None:
    web = await backends("web")
    _, port = await serve(
        r.to_cluster("web"),
        clusters={"web": [web]},
        common_http_protocol_options={"idle_timeout": seconds(0.3)},
    )
    client = await H2Client.open(port)
    assert (await client.answer(await client.send(request("/")))).status == 200
    data = b""
    async with asyncio.timeout(5):
        while chunk := await client.reader.read(65536):
            data += chunk
    frames, _ = split_frames(data)
    assert [kind for kind, *_ in frames][-1:] == [f.GOAWAY]
    await client.close()


async def test_http1_only_listener_does_not_speak_http2(serve: Serve, backends: Backends) -> None:
    web = await backends("web")
    host, port = await serve(r.to_cluster("web"), clusters={"web": [web]}, codec_type="HTTP1")
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
    async with asyncio.timeout(5):
        reply = await reader.read(65536)
    assert reply.startswith(b"HTTP/1.1 400")
    writer.close()
