"""``agw echo``: the JSON it answers, its test controls and its protocols, over real sockets.

Covers HTTP/1.1 (byte-exact query, repeated headers, keep-alive, pipelining behind a delay,
chunked bodies with trailers, 100-continue), the status/delay/header/content-type controls from
query and headers, h2c with the ``h2`` client (including a body larger than the flow-control
window), WebSocket echo and close (plus RFC 6455 framing vectors fed byte by byte), TLS with SNI
and ALPN, malformed input, several listeners with per-address counters, and the CLI lines and
SIGTERM. Leaves out throughput (tools/ benchmarks) and WebSocket over HTTP/2 (not offered).
"""

from __future__ import annotations

import asyncio
import datetime
import json
import signal
import ssl
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.events import DataReceived, ResponseReceived, StreamEnded

from controlplane.echo import EchoServer, ListenAddressInvalid, parse_listen_address, serve_echo
from controlplane.echo.errors import FrameInvalid
from controlplane.echo.framing import Frame, FrameDecoder, Opcode, accept_key, encode_frame
from controlplane.echo.reply import MAX_DELAY_SECONDS, EchoRequest, read_controls

ROOT = Path(__file__).resolve().parents[2]
DEADLINE = 5.0
Response = tuple[int, dict[str, list[str]], bytes]


@pytest.fixture
async def echo() -> AsyncIterator[EchoServer]:
    async with serve_echo(["127.0.40.1:0"], name="e1") as server:
        yield server


async def connect(server: EchoServer) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection(*server.addresses[0])


async def read_response(reader: asyncio.StreamReader) -> Response:
    async with asyncio.timeout(DEADLINE):
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        status_line, *lines = head.split("\r\n")[:-2]
        headers: dict[str, list[str]] = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers.setdefault(name.lower(), []).append(value.strip())
        length = int(headers.get("content-length", ["0"])[0])
        return int(status_line.split()[1]), headers, await reader.readexactly(length)


async def exchange(server: EchoServer, raw: bytes) -> tuple[Response, dict[str, Any]]:
    reader, writer = await connect(server)
    writer.write(raw)
    response = await read_response(reader)
    writer.close()
    return response, json.loads(response[2])


async def test_http1_describes_the_request_byte_for_byte(echo: EchoServer) -> None:
    raw = (
        b"POST /p%2Fq/../r?b=%20x&a=1&a=2&e=%zz HTTP/1.1\r\nHost: svc.test\r\n"
        b"X-Multi: one\r\nx-multi: two\r\nContent-Length: 5\r\n\r\nh\xc3\xa9lo"
    )
    (status, headers, _), body = await exchange(echo, raw)
    host, port = echo.addresses[0]
    assert status == 200
    assert headers["x-echo-backend"] == ["e1"]
    assert headers["content-type"] == ["application/json"]
    assert body["path"] == "/p%2Fq/../r?b=%20x&a=1&a=2&e=%zz"
    assert body["headers"]["x-multi"] == ["one", "two"]
    assert body["headers"]["content-length"] == "5"
    assert (body["backend"], body["address"], body["method"]) == ("e1", f"{host}:{port}", "POST")
    assert (body["host"], body["protocol"], body["tls"], body["body"]) == (
        "svc.test",
        "HTTP/1.1",
        None,
        "hélo",
    )
    assert "bodyEncoding" not in body


async def test_a_body_that_is_not_utf8_is_base64(echo: EchoServer) -> None:
    raw = b"PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n\xff\xfe"
    _, body = await exchange(echo, raw)
    assert (body["body"], body["bodyEncoding"]) == ("//4=", "base64")


async def test_keep_alive_and_pipelining_answer_in_order(echo: EchoServer) -> None:
    reader, writer = await connect(echo)
    writer.write(b"GET /first HTTP/1.1\r\nHost: a\r\n\r\n")
    assert json.loads((await read_response(reader))[2])["path"] == "/first"
    # Two pipelined requests in one write, the first delayed: answers keep request order.
    writer.write(
        b"GET /slow HTTP/1.1\r\nHost: a\r\nx-echo-delay-ms: 150\r\n\r\n"
        b"GET /fast HTTP/1.1\r\nHost: a\r\n\r\n"
    )
    paths = [json.loads((await read_response(reader))[2])["path"] for _ in range(2)]
    assert paths == ["/slow", "/fast"]
    assert echo.requests[echo.addresses[0]] == 3
    writer.close()


async def test_request_sent_one_byte_at_a_time(echo: EchoServer) -> None:
    # "P" could begin the HTTP/2 preface, so protocol detection has to wait for more bytes.
    raw = b"POST /d?q=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"
    reader, writer = await connect(echo)
    for byte in raw:
        writer.write(bytes([byte]))
        await writer.drain()
    body = json.loads((await read_response(reader))[2])
    assert (body["path"], body["body"]) == ("/d?q=1", "abc")
    writer.close()


async def test_chunked_body_and_trailers(echo: EchoServer) -> None:
    raw = (
        b"POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n6\r\n world\r\n0\r\nX-Checksum: 42\r\n\r\n"
    )
    _, body = await exchange(echo, raw)
    assert body["body"] == "hello world"
    assert body["trailers"] == {"x-checksum": "42"}


async def test_expect_100_continue_is_answered_before_the_body(echo: EchoServer) -> None:
    reader, writer = await connect(echo)
    writer.write(b"POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n")
    async with asyncio.timeout(DEADLINE):
        assert await reader.readuntil(b"\r\n\r\n") == b"HTTP/1.1 100 Continue\r\n\r\n"
    writer.write(b"data")
    status, _, payload = await read_response(reader)
    assert (status, json.loads(payload)["body"]) == (200, "data")
    writer.close()


@pytest.mark.parametrize(
    ("target", "extra", "status", "content_type", "added"),
    [
        ("/?x-echo-status=503", "", 503, "application/json", {}),
        ("/?x-echo-status=503", "x-echo-status: 418\r\n", 418, "application/json", {}),
        (
            "/?x-echo-response-header=a%3D1",
            "x-echo-response-header: b=2\r\nx-echo-response-header: a=3\r\n"
            "x-echo-content-type: text/plain\r\n",
            200,
            "text/plain",
            {"a": ["1", "3"], "b": ["2"]},
        ),
        ("/", "x-echo-status: 99\r\n", 400, "application/json", {}),
        ("/", "x-echo-response-header: content-length=1\r\n", 400, "application/json", {}),
    ],
)
async def test_controls_from_query_and_headers(
    echo: EchoServer,
    target: str,
    extra: str,
    status: int,
    content_type: str,
    added: dict[str, list[str]],
) -> None:
    raw = f"GET {target} HTTP/1.1\r\nHost: a\r\n{extra}\r\n".encode()
    (got_status, headers, _), body = await exchange(echo, raw)
    assert (got_status, headers["content-type"]) == (status, [content_type])
    assert {name: headers[name] for name in added} == added
    assert ("error" in body) == (status == 400)


async def test_delay_waits_and_is_bounded(echo: EchoServer) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    await exchange(echo, b"GET / HTTP/1.1\r\nHost: a\r\nx-echo-delay-ms: 200\r\n\r\n")
    assert loop.time() - started >= 0.2
    request = EchoRequest("GET", "/?x-echo-delay-ms=99999999", "a", [], "HTTP/1.1")
    assert read_controls(request).delay == MAX_DELAY_SECONDS


async def h2_exchange(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    requests: list[tuple[list[tuple[str, str]], bytes]],
) -> list[Response]:
    """Send every request on its own stream, honouring flow control; collect the answers."""
    h2 = H2Connection(H2Configuration(client_side=True, header_encoding="utf-8"))
    h2.initiate_connection()
    unsent: dict[int, bytes] = {}
    answers: dict[int, Response] = {}
    for headers, body in requests:
        stream_id = h2.get_next_available_stream_id()
        h2.send_headers(stream_id, headers, end_stream=not body)
        unsent[stream_id] = body
        answers[stream_id] = (0, {}, b"")
    done: set[int] = set()
    preface = h2.data_to_send()
    async with asyncio.timeout(DEADLINE):
        for byte in preface[:24]:  # the connection preface one byte at a time: detection waits
            writer.write(bytes([byte]))
            await writer.drain()
        writer.write(preface[24:])
        for _ in range(10_000):
            for stream_id, body in list(unsent.items()):
                size = min(h2.local_flow_control_window(stream_id), len(body))
                for start in range(0, size, h2.max_outbound_frame_size):
                    chunk = body[start : min(start + h2.max_outbound_frame_size, size)]
                    h2.send_data(stream_id, chunk, end_stream=start + len(chunk) == len(body))
                unsent[stream_id] = body[size:]
            writer.write(h2.data_to_send())
            if len(done) == len(requests):
                return list(answers.values())
            for event in h2.receive_data(await reader.read(65536)):
                if isinstance(event, ResponseReceived):
                    fields: dict[str, list[str]] = {}
                    for name, value in event.headers:
                        fields.setdefault(name, []).append(value)
                    answers[event.stream_id] = (int(fields[":status"][0]), fields, b"")
                elif isinstance(event, DataReceived):
                    h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                    status, fields, got = answers[event.stream_id]
                    answers[event.stream_id] = (status, fields, got + event.data)
                elif isinstance(event, StreamEnded):
                    done.add(event.stream_id)
    raise AssertionError("HTTP/2 exchange did not finish")


async def test_h2c_prior_knowledge(echo: EchoServer) -> None:
    reader, writer = await connect(echo)
    large = b"z" * 200_000  # beyond both default 64 KiB windows: each side must wait for updates
    base = [(":scheme", "http"), (":authority", "svc.test")]
    controls = [("x-echo-status", "503"), ("x-echo-delay-ms", "50")]
    answers = await h2_exchange(
        reader,
        writer,
        [
            (
                [(":method", "GET"), (":path", "/h2?a=%41"), *base, *controls],
                b"",
            ),
            ([(":method", "POST"), (":path", "/upload"), *base, ("x-k", "1"), ("x-k", "2")], large),
        ],
    )
    writer.close()
    (status_a, headers_a, body_a), (status_b, _, body_b) = answers
    first, second = json.loads(body_a), json.loads(body_b)
    assert (status_a, headers_a["x-echo-backend"], status_b) == (503, ["e1"], 200)
    assert (first["protocol"], first["host"], first["path"]) == ("HTTP/2", "svc.test", "/h2?a=%41")
    assert ":path" not in first["headers"]
    assert (second["headers"]["x-k"], second["body"]) == (["1", "2"], large.decode())


def test_websocket_framing_rfc_vectors_byte_by_byte() -> None:
    assert accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    masked_hello = bytes.fromhex("818537fa213d7f9f4d5158")
    decoder = FrameDecoder()
    frames = [
        frame for byte in masked_hello + masked_hello for frame in decoder.feed(bytes([byte]))
    ]
    assert frames == [Frame(Opcode.TEXT, b"Hello")] * 2
    assert encode_frame(Frame(Opcode.TEXT, b"Hello")) == bytes.fromhex("810548656c6c6f")
    mask = bytes.fromhex("37fa213d")
    assert encode_frame(Frame(Opcode.TEXT, b"Hello"), mask) == masked_hello
    for invalid in (b"\x81\x05Hello", b"\xc1\x80abcd", b"\x09\xfe\x00\x7e", b"\x83\x80abcd"):
        with pytest.raises(FrameInvalid):
            FrameDecoder().feed(invalid)


async def test_websocket_echoes_frames_and_closes(echo: EchoServer) -> None:
    reader, writer = await connect(echo)
    writer.write(
        b"GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    async with asyncio.timeout(DEADLINE):
        head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101 ")
    assert b"sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n" in head
    sent = [
        Frame(Opcode.TEXT, "héllo".encode()),
        Frame(Opcode.BINARY, bytes(range(256)) * 2),  # 16-bit length
        Frame(Opcode.PING, b"p"),
        Frame(Opcode.BINARY, b"\x00" * 70_000),  # 64-bit length
        Frame(Opcode.CLOSE, b"\x03\xe8bye"),
    ]
    writer.write(b"".join(encode_frame(frame, mask=b"\x01\x02\x03\x04") for frame in sent))
    decoder, received = FrameDecoder(expect_masked=False), []
    async with asyncio.timeout(DEADLINE):
        while chunk := await reader.read(65536):
            received.extend(decoder.feed(chunk))
    assert received == [
        *sent[:2],
        Frame(Opcode.PONG, b"p"),
        sent[3],
        Frame(Opcode.CLOSE, b"\x03\xe8"),
    ]
    assert echo.requests[echo.addresses[0]] == 1


async def test_websocket_handshake_without_key_is_refused(echo: EchoServer) -> None:
    raw = b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
    reader, writer = await connect(echo)
    writer.write(raw)
    assert (await read_response(reader))[0] == 400
    async with asyncio.timeout(DEADLINE):
        assert await reader.read() == b""


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "echo.test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("echo.test")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    directory = tmp_path_factory.mktemp("echo-tls")
    cert_path, key_path = directory / "tls.crt", directory / "tls.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.mark.parametrize("alpn", ["h2", "http/1.1"])
async def test_tls_reports_sni_and_alpn(certificate: tuple[Path, Path], alpn: str) -> None:
    cert_path, key_path = certificate
    client = ssl.create_default_context(cafile=str(cert_path))
    client.set_alpn_protocols([alpn])
    async with serve_echo(["127.0.40.3:0"], tls_cert=cert_path, tls_key=key_path) as server:
        reader, writer = await asyncio.open_connection(
            *server.addresses[0], ssl=client, server_hostname="echo.test"
        )
        if alpn == "h2":
            headers = [(":method", "GET"), (":path", "/"), (":scheme", "https")]
            ((_, _, payload),) = await h2_exchange(
                reader, writer, [([*headers, (":authority", "a")], b"")]
            )
        else:
            writer.write(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            payload = (await read_response(reader))[2]
        writer.close()
    body = json.loads(payload)
    assert body["tls"] == {"sni": "echo.test", "alpn": alpn, "version": "TLSv1.3"}
    assert body["protocol"] == ("HTTP/2" if alpn == "h2" else "HTTP/1.1")


async def test_malformed_request_closes_only_its_connection(echo: EchoServer) -> None:
    reader, writer = await connect(echo)
    writer.write(b"GET /before HTTP/1.1\r\nHost: a\r\n\r\n")
    assert (await read_response(reader))[0] == 200
    bad_reader, bad_writer = await connect(echo)
    bad_writer.write(b"G\x00T / HTTP/9\r\n\r\n")
    async with asyncio.timeout(DEADLINE):
        assert await bad_reader.read() == b""
    writer.write(b"GET /after HTTP/1.1\r\nHost: a\r\n\r\n")
    assert json.loads((await read_response(reader))[2])["path"] == "/after"
    writer.close()


async def test_several_listeners_count_per_address() -> None:
    async with serve_echo(["127.0.40.4:0", "127.0.40.5:0"], name="multi") as server:
        first, second = server.addresses
        for address, count in ((first, 1), (second, 2)):
            for _ in range(count):
                reader, writer = await asyncio.open_connection(*address)
                writer.write(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
                body = json.loads((await read_response(reader))[2])
                assert body["address"] == f"{address[0]}:{address[1]}"
                writer.close()
        await server.wait_for_requests(3)
        assert server.requests == {first: 1, second: 2}


def test_listen_addresses_parse() -> None:
    assert parse_listen_address("127.0.0.1:8080") == ("127.0.0.1", 8080)
    assert parse_listen_address("[::1]:0") == ("::1", 0)
    for invalid in ("127.0.0.1", ":80", "a:b", "a:70000"):
        with pytest.raises(ListenAddressInvalid):
            parse_listen_address(invalid)


@pytest.mark.parametrize(
    ("signum", "request_first"),
    [(signal.SIGTERM, True), (signal.SIGINT, False)],
    ids=["sigterm-after-a-request", "sigint-at-once"],
)
async def test_cli_prints_its_listeners_and_stops_on_a_signal(
    signum: signal.Signals, request_first: bool
) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "controlplane.cli", "echo", "--name", "cli"),
        *("--listen", "127.0.40.6:0", "--listen", "127.0.40.7:0"),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    try:
        async with asyncio.timeout(15):
            lines = [(await process.stdout.readline()).decode().strip() for _ in range(2)]
        assert [line.rsplit(":", 1)[0] for line in lines] == [
            "echo cli listening on 127.0.40.6",
            "echo cli listening on 127.0.40.7",
        ]
        if request_first:
            host, port = lines[1].rsplit(" ", 1)[1].split(":")
            reader, writer = await asyncio.open_connection(host, int(port))
            writer.write(b"GET /cli HTTP/1.1\r\nHost: a\r\n\r\n")
            assert json.loads((await read_response(reader))[2])["backend"] == "cli"
            writer.close()
        # Signalled right after the lines (no request) proves the handlers precede them.
        process.send_signal(signum)
        async with asyncio.timeout(DEADLINE):
            assert await process.wait() == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
