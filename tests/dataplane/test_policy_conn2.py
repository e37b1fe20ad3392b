"""The proxy's side of the AgentgatewayPolicy phase-3 connection settings: the PROXY protocol,
HTTP/2 PING keepalive, and the agwpolicy-conn2-backend golden case (backend auth headers,
per-try timeout) compiling.

Covers the version 1 and 2 header parser (whole, one byte at a time, with the connection's own
bytes behind it, malformed and absent headers, health-check headers), the proxy_protocol
listener filter compiled from the agwpolicy-conn2-proxy-protocol golden case and NACKed where
misplaced or configured beyond what the proxy does, and a listener requiring the header: a v1
or v2 client is served and the header's source is the client the backend and access log see,
before TLS too; a client without it is disconnected unless the mode is optional. Keepalive:
the sans-IO timer, the golden case compiling, an upstream keepalive NACKed, and a silent HTTP/2
client pinged and then disconnected. HTTP/2 frame size (``custom_settings_parameters``
SETTINGS_MAX_FRAME_SIZE): advertised, a 30,000-byte DATA frame accepted with it and a
connection error without it, other parameters and out-of-range sizes NACKed. Leaves out Envoy
(e2e/test_agw_policy_conn2.py; the translator's golden case is validated by Envoy).
"""

from __future__ import annotations

import asyncio
import json
import ssl
from typing import Any

import h2.config
import h2.connection
import pytest
import trustme
from envoy.config.listener.v3 import listener_components_pb2
from envoy.extensions.filters.listener.proxy_protocol.v3 import proxy_protocol_pb2
from hypothesis import given
from hypothesis import strategies as st

from dataplane.config.connection import ProxyMode
from dataplane.errors import ConfigRejected
from dataplane.http2.keepalive import KeepaliveAction, PingKeepalive
from dataplane.proxy import Proxy
from dataplane.proxy_protocol import (
    InvalidProxyHeader,
    Pending,
    ProxyHeader,
    encode_v2,
    parse_proxy_header,
)
from tests.dataplane import resources as r
from tests.dataplane.backend import EchoBackend
from tests.dataplane.client import Connection, fetch, get
from tests.dataplane.conftest import PROXY_HOST, Backends
from tests.dataplane.test_policy_conn import stdout_access_log, tls_config, translated

V1 = b"PROXY TCP4 192.0.2.10 127.0.0.1 5555 80\r\n"
V1_SIX = b"PROXY TCP6 2001:db8::7 ::1 5555 443\r\n"
V2 = encode_v2(("192.0.2.20", 6000), ("127.0.0.1", 80))
V2_LOCAL = b"\r\n\r\n\x00\r\nQUIT\n" + bytes((0x20, 0x00)) + b"\x00\x00"


@pytest.mark.parametrize(
    ("header", "source", "port"),
    [
        (V1, "192.0.2.10", 5555),
        (V1_SIX, "2001:db8::7", 5555),
        (b"PROXY UNKNOWN\r\n", None, 0),
        (V2, "192.0.2.20", 6000),
        (encode_v2(("2001:db8::9", 1), ("::1", 2)), "2001:db8::9", 1),
        (V2_LOCAL, None, 0),
    ],
)
def test_headers_parse_whole_and_byte_by_byte(header: bytes, source: str | None, port: int) -> None:
    expected = ProxyHeader(len(header), source, port)
    assert parse_proxy_header(header + b"GET / HTTP/1.1\r\n") == expected
    assert parse_proxy_header(header) == expected
    for end in range(1, len(header)):
        assert parse_proxy_header(header[:end]) is Pending.INCOMPLETE


@pytest.mark.parametrize(
    "data",
    [
        b"PROXY TCP4 192.0.2.10 127.0.0.1 5555\r\n",
        b"PROXY TCP4 2001:db8::1 127.0.0.1 1 2\r\n",
        b"PROXY TCP4 192.0.2.10 127.0.0.1 99999 80\r\n",
        b"PROXY TCP4 " + b"1" * 120,
        b"\r\n\r\n\x00\r\nQUIT\n" + bytes((0x31, 0x11)) + b"\x00\x0c" + bytes(12),
        b"\r\n\r\n\x00\r\nQUIT\n" + bytes((0x21, 0x11)) + b"\x00\x04" + bytes(4),
    ],
)
def test_malformed_headers_are_errors(data: bytes) -> None:
    with pytest.raises(InvalidProxyHeader):
        parse_proxy_header(data)


@pytest.mark.parametrize("data", [b"GET / HTTP/1.1\r\n", b"\x16\x03\x01\x00", b"PROXZ"])
def test_other_bytes_are_no_header(data: bytes) -> None:
    assert parse_proxy_header(data) is Pending.ABSENT


@given(st.binary(max_size=64))
def test_parser_never_fails_unexpectedly(data: bytes) -> None:
    try:
        verdict = parse_proxy_header(data)
    except InvalidProxyHeader:
        return
    if isinstance(verdict, ProxyHeader):
        assert 0 < verdict.length <= len(data)


def test_golden_case_compiles() -> None:
    listeners = translated("agwpolicy-conn2-proxy-protocol").listeners
    https, http = listeners["default/gw/443"], listeners["default/gw/80"]
    assert https.connection.proxy_protocol is ProxyMode.REQUIRED and https.inspects_tls
    assert http.connection.proxy_protocol is ProxyMode.REQUIRED and not http.inspects_tls
    assert http.carries_streams


def test_backend_route_case_compiles() -> None:
    # Authorization on ClusterWeights and the per-try timeout: the proxy takes both.
    config = translated("agwpolicy-conn2-backend")
    assert {"service/default/web/8080", "service/default/api/9090"} <= config.clusters.keys()


def proxy_listener(port: int = 0, *, optional: bool = False, **manager: Any) -> Any:
    listener = r.listener("l", PROXY_HOST, port, "rc", **manager)
    add_proxy_filter(listener, optional)
    return listener


def add_proxy_filter(listener: Any, optional: bool = False) -> None:
    config = proxy_protocol_pb2.ProxyProtocol(allow_requests_without_proxy_protocol=optional)
    entry = listener_components_pb2.ListenerFilter(name="envoy.filters.listener.proxy_protocol")
    entry.typed_config.Pack(config)
    listener.listener_filters.insert(0, entry)


def test_misplaced_or_extended_filter_is_nacked() -> None:
    routes = [r.route_config("rc", r.vhost("v", ["*"]))]
    listener = r.tls_listener("l", PROXY_HOST, 0, [([], "cert", "rc")])
    entry = listener.listener_filters.add(name="envoy.filters.listener.proxy_protocol")
    entry.typed_config.Pack(proxy_protocol_pb2.ProxyProtocol())
    with pytest.raises(ConfigRejected, match="not first"):
        r.compiled([listener], routes)
    listener = proxy_listener()
    config = proxy_protocol_pb2.ProxyProtocol(stat_prefix="pp")
    listener.listener_filters[0].typed_config.Pack(config)
    with pytest.raises(ConfigRejected, match="stat_prefix"):
        r.compiled([listener], routes)


async def serve(proxy: Proxy, backend: EchoBackend, listener: Any) -> tuple[str, int]:
    config = r.compiled(
        [listener],
        [r.route_config("rc", r.vhost("v", ["*"], r.to_cluster("c")))],
        {"c": [(backend.host, backend.port)]},
    )
    await proxy.apply(config)
    address = proxy.address_of("l")
    assert address is not None
    return address


async def test_header_source_is_the_client(
    proxy: Proxy, backends: Backends, capsys: pytest.CaptureFixture[str]
) -> None:
    backend = await backends("web")
    log = stdout_access_log(
        {
            "client": "%DOWNSTREAM_REMOTE_ADDRESS%",
            "path": "%REQ(:PATH)%",
            "source": "%CEL(source.address + ':' + string(source.port))%",
        }
    )
    address = await serve(
        proxy, backend, proxy_listener(use_remote_address={"value": True}, access_log=[log])
    )
    for header, path in ((V1, "/v1"), (V2, "/v2")):
        assert (await fetch(*address, header + get(path))).status == 200
    assert [request.header("x-forwarded-for") for request in backend.received] == [
        "192.0.2.10",
        "192.0.2.20",
    ]
    logged = [json.loads(line) for line in capsys.readouterr().out.splitlines() if "{" in line]
    assert [(line["path"], line["client"], line["source"]) for line in logged][-2:] == [
        ("/v1", "192.0.2.10", "192.0.2.10:5555"),
        ("/v2", "192.0.2.20", "192.0.2.20:6000"),
    ]


async def test_client_without_header_is_disconnected(proxy: Proxy, backends: Backends) -> None:
    backend = await backends("web")
    address = await serve(proxy, backend, proxy_listener())
    connection = await Connection.open(*address)
    try:
        await connection.send(get("/"))
        assert await connection.is_closed_by_peer()
    finally:
        await connection.close()
    assert backend.received == []


async def test_optional_mode_serves_clients_without_header(
    proxy: Proxy, backends: Backends
) -> None:
    backend = await backends("web")
    address = await serve(proxy, backend, proxy_listener(optional=True))
    assert (await fetch(*address, get("/"))).status == 200
    assert (await fetch(*address, V1 + get("/"))).status == 200


async def test_header_before_tls(proxy: Proxy) -> None:
    ca = trustme.CA()
    listener = r.tls_listener("l", PROXY_HOST, 0, [([], "cert", "rc")])
    add_proxy_filter(listener)
    await proxy.apply(tls_config(listener, ca))
    address = proxy.address_of("l")
    assert address is not None
    context = ssl.create_default_context()
    ca.configure_trust(context)
    reader, writer = await asyncio.wait_for(asyncio.open_connection(*address), 5)
    try:
        writer.write(V2)
        await writer.start_tls(context, server_hostname="www.example.com")
        writer.write(get("/", host="www.example.com"))
        status_line = await asyncio.wait_for(reader.readline(), 5)
        # No route matches on this config: a 404 proves the TLS session and the HTTP exchange.
        assert status_line.startswith(b"HTTP/1.1 404")
    finally:
        writer.close()


def test_keepalive_pings_after_silence_and_closes_unanswered() -> None:
    keepalive = PingKeepalive(interval=10.0, timeout=2.0)
    assert keepalive.check(now=5.0, last_active=0.0) is KeepaliveAction.NOTHING
    assert keepalive.check(now=10.0, last_active=0.0) is KeepaliveAction.PING
    assert keepalive.check(now=11.0, last_active=0.0) is KeepaliveAction.NOTHING
    # The ACK (any bytes) arrived: the next PING waits for another silent interval.
    assert keepalive.check(now=11.5, last_active=11.0) is KeepaliveAction.NOTHING
    assert keepalive.check(now=21.0, last_active=11.0) is KeepaliveAction.PING
    assert keepalive.check(now=23.0, last_active=11.0) is KeepaliveAction.CLOSE


def test_keepalive_case_compiles() -> None:
    listener = translated("agwpolicy-conn2-http2-keepalive").listeners["default/gw/80"]
    http2 = listener.filter_chains[0].http.http2
    assert (http2.keepalive_interval, http2.keepalive_timeout) == (30.0, 5.0)


def test_upstream_keepalive_is_nacked() -> None:
    from envoy.extensions.upstreams.http.v3 import http_protocol_options_pb2

    options = http_protocol_options_pb2.HttpProtocolOptions()
    options.explicit_http_config.http2_protocol_options.connection_keepalive.interval.FromSeconds(1)
    cluster = r.cluster("c")
    cluster.typed_extension_protocol_options[
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
    ].Pack(options)
    with pytest.raises(ConfigRejected, match="connection_keepalive"):
        r.compiled(
            [r.listener("l", PROXY_HOST, 0, "rc")],
            [r.route_config("rc", r.vhost("v", ["*"], r.to_cluster("c")))],
            {"c": [("127.0.0.1", 1)]},
            cluster_protos=[cluster],
        )


H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
EMPTY_SETTINGS = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"


async def test_silent_http2_client_is_pinged_then_closed(proxy: Proxy) -> None:
    keepalive = {
        "connection_keepalive": {
            "interval": {"nanos": 200_000_000},
            "timeout": {"nanos": 300_000_000},
        }
    }
    listener = r.listener("l", PROXY_HOST, 0, "rc", http2_protocol_options=keepalive)
    await proxy.apply(r.compiled([listener], [r.route_config("rc", r.vhost("v", ["*"]))]))
    address = proxy.address_of("l")
    assert address is not None
    reader, writer = await asyncio.wait_for(asyncio.open_connection(*address), 5)
    try:
        writer.write(H2_PREFACE + EMPTY_SETTINGS)
        received = b""
        pinged = False
        async with asyncio.timeout(5):
            while chunk := await reader.read(65536):
                received += chunk
                pinged = pinged or _has_ping(received)
        assert pinged  # then the connection closed, the PING unanswered
    finally:
        writer.close()


def _has_ping(data: bytes) -> bool:
    offset = 0
    while offset + 9 <= len(data):
        length = int.from_bytes(data[offset : offset + 3], "big")
        if data[offset + 3] == 6 and not data[offset + 4] & 1:
            return True
        offset += 9 + length
    return False


def test_frame_size_case_compiles() -> None:
    listener = translated("agwpolicy-conn2-http2-keepalive").listeners["default/gw/80"]
    assert listener.filter_chains[0].http.http2.max_frame_size == 32768


@pytest.mark.parametrize(
    ("identifier", "value", "reason"),
    [(0x4, 65535, "custom_settings_parameters"), (0x5, 1024, "MAX_FRAME_SIZE 1024")],
)
def test_other_custom_settings_are_nacked(identifier: int, value: int, reason: str) -> None:
    custom = {
        "custom_settings_parameters": [
            {"identifier": {"value": identifier}, "value": {"value": value}}
        ]
    }
    listener = r.listener("l", PROXY_HOST, 0, "rc", http2_protocol_options=custom)
    with pytest.raises(ConfigRejected, match=reason):
        r.compiled([listener], [r.route_config("rc", r.vhost("v", ["*"]))])


@pytest.mark.parametrize(("frame_size", "accepted"), [(None, False), (65536, True)])
async def test_frames_up_to_the_advertised_size_are_accepted(
    proxy: Proxy, backends: Backends, frame_size: int | None, accepted: bool
) -> None:
    backend = await backends("web")
    custom = (
        {
            "custom_settings_parameters": [
                {"identifier": {"value": 0x5}, "value": {"value": frame_size}}
            ]
        }
        if frame_size
        else {}
    )
    listener = r.listener("l", PROXY_HOST, 0, "rc", http2_protocol_options=custom)
    address = await serve(proxy, backend, listener)
    client = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    client.initiate_connection()
    reader, writer = await asyncio.wait_for(asyncio.open_connection(*address), 5)
    try:
        writer.write(client.data_to_send())
        async with asyncio.timeout(5):
            while client.remote_settings.max_frame_size == 16384 and frame_size:
                client.receive_data(await reader.read(65536))
            writer.write(client.data_to_send())
            advertised = client.remote_settings.max_frame_size
            assert advertised == (frame_size or 16384)
            headers = [(":method", "POST"), (":path", "/"), (":scheme", "http")]
            client.send_headers(1, [*headers, (":authority", "h")])
            # One DATA frame of 30,000 bytes, past RFC 9113's default of 16,384.
            body = b"x" * 30_000
            writer.write(client.data_to_send() + _data_frame(1, body))
            events: list[object] = []
            while not any(type(e).__name__ in _ENDINGS for e in events):
                chunk = await reader.read(65536)
                if not chunk:
                    break
                events += client.receive_data(chunk)
                writer.write(client.data_to_send())
    finally:
        writer.close()
    names = {type(e).__name__ for e in events}
    assert ("StreamEnded" in names) is accepted
    assert ("ConnectionTerminated" in names) is not accepted


_ENDINGS = {"StreamEnded", "ConnectionTerminated", "StreamReset"}


def _data_frame(stream_id: int, payload: bytes) -> bytes:
    """A DATA frame ending the stream, written by hand: the client library would split it."""
    header = len(payload).to_bytes(3, "big") + bytes((0x0, 0x1)) + stream_id.to_bytes(4, "big")
    return header + payload
