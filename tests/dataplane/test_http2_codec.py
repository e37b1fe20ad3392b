"""The sans-IO HTTP/2 codec and HPACK, against the ``h2`` library as the peer.

Covers the server codec fed whole, one byte at a time and with trailing data (Hypothesis picks
the cut points); flow control (a backlog that waits for WINDOW_UPDATE, trailers after it, held
windows); the client side (interim responses, GOAWAY refusing streams); and the protocol
errors that end a stream or the connection. HPACK is in test_http2_hpack.py, the asyncio
adapters in test_http2_proxy.py and test_http2_upstream.py.
"""

from __future__ import annotations

from typing import Any

import pytest
from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.events import (
    ConnectionTerminated,
    DataReceived,
    ResponseReceived,
    StreamEnded,
    StreamReset,
    TrailersReceived,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from dataplane.http2 import frames as f
from dataplane.http2.codec import CodecSettings, Http2Codec
from dataplane.http2.frames import ErrorCode
from dataplane.http2.stream import StreamState

REQUEST = [(":method", "POST"), (":path", "/a?b=1"), (":scheme", "http"), (":authority", "x")]


class Recorder:
    """Codec callbacks as a list of tuples, the way a test can compare them."""

    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []
        self.streams: dict[int, StreamState] = {}

    def new_stream(self, stream_id: int) -> StreamState:
        stream = self.streams[stream_id] = StreamState()
        return stream

    def on_headers(self, stream: StreamState, headers: Any, end: bool) -> None:
        self.events.append(("headers", stream.stream_id, headers, end))

    def on_trailers(self, stream: StreamState, headers: Any) -> None:
        self.events.append(("trailers", stream.stream_id, headers))

    def on_data(self, stream: StreamState, data: bytes, end: bool) -> None:
        self.events.append(("data", stream.stream_id, data, end))

    def on_reset(self, stream: StreamState, code: int) -> None:
        self.events.append(("reset", stream.stream_id, code))

    def on_drained(self, stream: StreamState) -> None:
        self.events.append(("drained", stream.stream_id))

    def on_goaway(self, last_stream_id: int, code: int) -> None:
        self.events.append(("goaway", last_stream_id, code))

    def on_connection_error(self, code: int, message: str) -> None:
        self.events.append(("error", code))


def server(settings: CodecSettings | None = None) -> tuple[Http2Codec, Recorder, list[bytes]]:
    recorder = Recorder()
    out: list[bytes] = []
    codec = Http2Codec(
        recorder, out.append, client_side=False, settings=settings or CodecSettings()
    )
    codec.start()
    return codec, recorder, out


def client() -> H2Connection:
    peer = H2Connection(H2Configuration(client_side=True, header_encoding=None))
    peer.initiate_connection()
    return peer


def client_bytes() -> bytes:
    """Two streams: one with a body in two frames and trailers, one bodiless."""
    peer = client()
    peer.send_headers(1, [*REQUEST, ("x-one", "1"), ("cookie", "a=b")])
    peer.send_data(1, b"hello ")
    peer.send_data(1, b"world")
    peer.send_headers(1, [("grpc-status", "0")], end_stream=True)
    peer.send_headers(
        3,
        [(":method", "GET"), (":path", "/"), (":scheme", "http"), (":authority", "y")],
        end_stream=True,
    )
    return bytes(peer.data_to_send())


EXPECTED = [
    ("headers", 1, [(b":method", b"POST"), (b":path", b"/a?b=1"), (b":scheme", b"http"),
                    (b":authority", b"x"), (b"x-one", b"1"), (b"cookie", b"a=b")], False),
    ("data", 1, b"hello ", False),
    ("data", 1, b"world", False),
    ("trailers", 1, [(b"grpc-status", b"0")]),
    ("headers", 3, [(b":method", b"GET"), (b":path", b"/"), (b":scheme", b"http"),
                    (b":authority", b"y")], True),
]  # fmt: skip


def test_whole_input() -> None:
    codec, recorder, _ = server()
    codec.receive(client_bytes())
    assert recorder.events == EXPECTED
    assert codec.buffer == b""


def test_one_byte_at_a_time() -> None:
    codec, recorder, _ = server()
    data = client_bytes()
    for index in range(len(data)):
        codec.receive(data[index : index + 1])
    assert recorder.events == EXPECTED


def test_trailing_data_waits_for_the_rest_of_its_frame() -> None:
    codec, recorder, _ = server()
    data = client_bytes()
    cut = data.rindex(b"\x00\x00") - 3  # inside the last frame's header
    codec.receive(data[:cut])
    assert recorder.events == EXPECTED[:4]
    assert codec.buffer
    codec.receive(data[cut:])
    assert recorder.events == EXPECTED


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=400), max_size=12))
def test_any_split_gives_the_same_events(cuts: list[int]) -> None:
    codec, recorder, _ = server()
    data = client_bytes()
    points = sorted({min(cut, len(data)) for cut in cuts})
    start = 0
    for point in [*points, len(data)]:
        codec.receive(data[start:point])
        start = point
    assert recorder.events == EXPECTED


def frames_of(out: list[bytes]) -> list[tuple[int, int, int, bytes]]:
    data = b"".join(out)
    out.clear()
    parsed = []
    pos = 0
    while pos < len(data):
        high, low, kind, flags, stream_id = f.FRAME_HEADER.unpack_from(data, pos)
        length = high << 16 | low
        parsed.append((kind, flags, stream_id, data[pos + 9 : pos + 9 + length]))
        pos += 9 + length
    return parsed


def test_start_advertises_settings_and_a_larger_connection_window() -> None:
    _, _, out = server(CodecSettings(max_concurrent_streams=7, stream_window=100_000))
    kinds = frames_of(out)
    assert [k[0] for k in kinds] == [f.SETTINGS, f.WINDOW_UPDATE]
    assert dict(f.read_settings(kinds[0][3])) == {
        f.Setting.INITIAL_WINDOW_SIZE: 100_000,
        f.Setting.MAX_HEADER_LIST_SIZE: 64 * 1024,
        f.Setting.MAX_CONCURRENT_STREAMS: 7,
    }


def test_a_response_larger_than_the_window_waits_then_ends_with_trailers() -> None:
    codec, recorder, out = server()
    peer = client()
    peer.send_headers(1, REQUEST, end_stream=True)
    codec.receive(peer.data_to_send())
    stream = recorder.streams[1]
    codec.send_headers(stream, [(b":status", b"200")], False)
    codec.send_data(stream, b"x" * 200_000, False)
    codec.send_headers(stream, [(b"grpc-status", b"0")], True)
    assert stream.backlog_size == 200_000 - 65_535
    received = bytearray()
    trailers = None
    for _ in range(20):  # bounded: each round moves at least one window's worth
        for event in peer.receive_data(b"".join(out)):
            if isinstance(event, DataReceived):
                received += event.data
                peer.acknowledge_received_data(event.flow_controlled_length, 1)
            elif isinstance(event, TrailersReceived):
                trailers = event.headers
        out.clear()
        codec.receive(peer.data_to_send())
        if trailers is not None:
            break
    assert len(received) == 200_000
    assert trailers == [(b"grpc-status", b"0")]
    assert codec.streams == {}


def test_a_held_stream_gets_no_window_until_released() -> None:
    codec, recorder, out = server(CodecSettings(stream_window=65_535))
    peer = client()
    peer.send_headers(1, REQUEST)
    codec.receive(peer.data_to_send())
    stream = recorder.streams[1]
    codec.set_hold(stream, True)
    out.clear()
    peer.send_data(1, b"y" * 16_000)
    peer.send_data(1, b"y" * 16_000)
    codec.receive(peer.data_to_send())
    updates = [fr for fr in frames_of(out) if fr[0] == f.WINDOW_UPDATE and fr[2] == 1]
    assert updates == []
    codec.set_hold(stream, False)
    updates = [fr for fr in frames_of(out) if fr[0] == f.WINDOW_UPDATE and fr[2] == 1]
    assert [f.read_u32(u[3], 0) for u in updates] == [32_000]


def test_streams_beyond_the_limit_are_refused() -> None:
    codec, recorder, out = server(CodecSettings(max_concurrent_streams=1))
    peer = client()
    peer.send_headers(1, REQUEST)
    peer.send_headers(3, REQUEST)
    codec.receive(peer.data_to_send())
    resets = [fr for fr in frames_of(out) if fr[0] == f.RST_STREAM]
    assert [(r[2], f.read_u32(r[3], 0)) for r in resets] == [(3, ErrorCode.REFUSED_STREAM)]
    assert [e[1] for e in recorder.events] == [1]


def test_peer_reset_and_ping() -> None:
    codec, recorder, out = server()
    peer = client()
    peer.send_headers(1, REQUEST)
    peer.reset_stream(1, ErrorCode.CANCEL)
    peer.ping(b"12345678")
    codec.receive(peer.data_to_send())
    assert recorder.events[-1] == ("reset", 1, ErrorCode.CANCEL)
    pings = [fr for fr in frames_of(out) if fr[0] == f.PING]
    assert pings == [(f.PING, f.FLAG_ACK, 0, b"12345678")]


def goaway_code(out: list[bytes]) -> int | None:
    for kind, _, _, payload in frames_of(out):
        if kind == f.GOAWAY:
            return f.read_u32(payload, 4)
    return None


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"GET / HTTP/1.1\r\n\r\n", ErrorCode.PROTOCOL_ERROR),
        (f.PREFACE + f.frame_header(0, f.PING, 0, 0), ErrorCode.PROTOCOL_ERROR),
        (
            f.PREFACE + f.settings_frame({}) + f.frame_header(20_000, f.DATA, 0, 1),
            ErrorCode.FRAME_SIZE_ERROR,
        ),
        (
            f.PREFACE + f.settings_frame({}) + f.frame_header(1, f.DATA, 0, 1) + b"x",
            ErrorCode.PROTOCOL_ERROR,
        ),
        (f.PREFACE + f.settings_frame({}) + f.window_update_frame(0, 0), ErrorCode.PROTOCOL_ERROR),
        (
            f.PREFACE
            + f.settings_frame({})
            + f.frame_header(4, f.HEADERS, 0, 1)
            + b"\x82\x84\x86\x41"
            + f.frame_header(0, f.PING, 0, 0),
            ErrorCode.PROTOCOL_ERROR,
        ),
        (
            f.PREFACE + f.settings_frame({}) + f.frame_header(1, f.HEADERS, 5, 1) + b"\xff",
            ErrorCode.COMPRESSION_ERROR,
        ),
    ],
    ids=[
        "not-h2",
        "settings-not-first",
        "frame-too-large",
        "data-idle-stream",
        "zero-window-update",
        "cut-header-block",
        "bad-hpack",
    ],
)
def test_connection_errors_send_goaway(data: bytes, code: int) -> None:
    codec, recorder, out = server()
    out.clear()
    codec.receive(data)
    assert goaway_code(out) == code
    assert recorder.events[-1] == ("error", code)
    codec.receive(f.settings_frame({}))
    assert frames_of(out) == []


def test_upper_case_header_names_end_the_connection() -> None:
    codec, _recorder, out = server()
    block = b"\x82\x84\x86\x00\x05X-Bad\x01v"
    codec.receive(
        f.PREFACE + f.settings_frame({}) + f.frame_header(len(block), f.HEADERS, 5, 1) + block
    )
    assert goaway_code(out) == ErrorCode.PROTOCOL_ERROR


def test_a_stream_window_overrun_resets_only_that_stream() -> None:
    codec, recorder, out = server(CodecSettings(stream_window=65_535))
    peer = client()
    peer.send_headers(1, REQUEST)
    codec.receive(peer.data_to_send())
    codec.set_hold(recorder.streams[1], True)  # no credit returned: the window stays 65,535
    out.clear()
    frame = f.frame_header(16_384, f.DATA, 0, 1) + b"z" * 16_384
    codec.receive(frame * 5)
    assert ("reset", 1, ErrorCode.FLOW_CONTROL_ERROR) in recorder.events
    assert goaway_code(out) is None


def test_client_side_skips_interim_responses_and_goaway_refuses_later_streams() -> None:
    recorder = Recorder()
    out: list[bytes] = []
    codec = Http2Codec(recorder, out.append, client_side=True)
    codec.start()
    peer = H2Connection(H2Configuration(client_side=False, header_encoding=None))
    peer.initiate_connection()
    peer.receive_data(b"".join(out))
    out.clear()
    first, second = StreamState(), StreamState()
    codec.open_stream(first, 65_535)
    codec.open_stream(second, 65_535)
    codec.send_headers(
        first,
        [(b":method", b"GET"), (b":path", b"/"), (b":scheme", b"http"), (b":authority", b"a")],
        True,
    )
    codec.send_headers(
        second,
        [(b":method", b"GET"), (b":path", b"/"), (b":scheme", b"http"), (b":authority", b"a")],
        True,
    )
    peer.receive_data(b"".join(out))
    peer.send_headers(1, [(b":status", b"103"), (b"link", b"</a>")])
    peer.send_headers(1, [(b":status", b"200")], end_stream=True)
    peer.close_connection(last_stream_id=1)
    codec.receive(peer.data_to_send())
    assert recorder.events == [
        ("headers", 1, [(b":status", b"200")], True),
        ("reset", 3, ErrorCode.REFUSED_STREAM),
        ("goaway", 1, 0),
    ]


def test_h2_client_sees_responses_reset_and_goaway() -> None:
    codec, recorder, out = server()
    peer = client()
    peer.send_headers(1, REQUEST, end_stream=True)
    peer.send_headers(3, REQUEST, end_stream=True)
    codec.receive(peer.data_to_send())
    codec.send_headers(recorder.streams[1], [(b":status", b"204")], True)
    codec.reset_stream(recorder.streams[3], ErrorCode.CANCEL)
    codec.goaway(3)
    events = peer.receive_data(b"".join(out))
    kinds = [type(e) for e in events]
    assert ResponseReceived in kinds and StreamEnded in kinds and StreamReset in kinds
    assert isinstance(events[-1], ConnectionTerminated)
