"""A sans-IO HTTP/2 connection (RFC 9113): bytes in, stream callbacks out, frames to ``emit``.

One class serves both ends (``client_side``). It owns framing, HPACK state, stream states,
both directions of flow control and the protocol's error handling; it does no IO and keeps no
clock. Received DATA is returned to the peer's window at once unless the stream is held (its
consumer is slow), which is how backpressure crosses the proxy. DATA we send beyond the peer's
window waits in the stream's backlog. Sending is in ``sending.FrameSender``, frames other than
DATA, HEADERS and CONTINUATION in ``control.ControlFrames``.

The receive loop is the hot path: one ``struct`` unpack per frame, DATA and HEADERS tested
first, everything else dispatched through a table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from dataplane.http2 import frames as f
from dataplane.http2.compression import HeaderDecoder, HeaderEncoder
from dataplane.http2.control import ControlFrames
from dataplane.http2.errors import ConnectionFailed, HeaderBlockInvalid, HeaderFieldInvalid
from dataplane.http2.frames import ErrorCode, Setting
from dataplane.http2.stream import StreamEvents, StreamState

_unpack_header = f.FRAME_HEADER.unpack_from
# A header block spread over CONTINUATION frames may not grow past this (CVE-2024-27316).
_MAX_BLOCK = 256 * 1024


@dataclass(frozen=True, slots=True)
class CodecSettings:
    """What we advertise. Windows above the protocol's 64 KiB default spare round trips."""

    max_concurrent_streams: int = 256
    stream_window: int = 256 * 1024
    connection_window: int = 1024 * 1024
    max_header_list_size: int = 64 * 1024
    max_frame_size: int = f.DEFAULT_MAX_FRAME


DEFAULT_CODEC_SETTINGS = CodecSettings()


class Http2Codec(ControlFrames):
    __slots__ = (
        "_dispatch",
        "buffer",
        "conn_unacked",
        "continuation",
        "decoder",
        "events",
        "last_remote_id",
        "preface_left",
        "recv_window",
        "settings",
    )

    def __init__(
        self,
        events: StreamEvents,
        emit: Callable[[bytes], None],
        *,
        client_side: bool,
        settings: CodecSettings = DEFAULT_CODEC_SETTINGS,
    ) -> None:
        super().__init__(emit, HeaderEncoder(), client_side)
        self.events = events
        self.settings = settings
        self.decoder = HeaderDecoder(settings.max_header_list_size)
        self.buffer = b""
        self.preface_left = b"" if client_side else f.PREFACE
        self.settings_seen = False
        self.continuation: tuple[int, int, list[bytes], int] | None = None
        self.last_remote_id = 0
        self.recv_window = f.DEFAULT_WINDOW
        self.conn_unacked = 0
        self.remote_max_streams = 1 << 31
        self.goaway_received = False
        handlers: list[Callable[[int, int, bytes], None]] = [self._ignore] * 10
        handlers[f.PRIORITY] = self._on_priority
        handlers[f.RST_STREAM] = self._on_rst_stream
        handlers[f.SETTINGS] = self._on_settings
        handlers[f.PUSH_PROMISE] = self._on_push_promise
        handlers[f.PING] = self._on_ping
        handlers[f.GOAWAY] = self._on_goaway
        handlers[f.WINDOW_UPDATE] = self._on_window_update
        handlers[f.CONTINUATION] = self._on_continuation
        self._dispatch = handlers

    def start(self) -> None:
        """Queue our preface: SETTINGS, and a larger connection window."""
        settings = self.settings
        values = {
            Setting.INITIAL_WINDOW_SIZE: settings.stream_window,
            Setting.MAX_HEADER_LIST_SIZE: settings.max_header_list_size,
        }
        if self.client_side:
            values[Setting.ENABLE_PUSH] = 0
        else:
            values[Setting.MAX_CONCURRENT_STREAMS] = settings.max_concurrent_streams
        if settings.max_frame_size != f.DEFAULT_MAX_FRAME:
            values[Setting.MAX_FRAME_SIZE] = settings.max_frame_size
        parts = [f.PREFACE] if self.client_side else []
        parts.append(f.settings_frame(values))
        if settings.connection_window > f.DEFAULT_WINDOW:
            parts.append(f.window_update_frame(0, settings.connection_window - f.DEFAULT_WINDOW))
            self.recv_window = settings.connection_window
        self.emit(b"".join(parts))

    # Receiving

    def receive(self, data: bytes) -> None:
        if self.closed:
            return
        if self.buffer:
            data = self.buffer + data
            self.buffer = b""
        try:
            pos = self._preface(data) if self.preface_left else 0
            self.buffer = data[self._frames(data, pos) :]
        except ConnectionFailed as failure:
            self.fail(failure.code, str(failure))

    def _preface(self, data: bytes) -> int:
        expected = self.preface_left
        size = min(len(data), len(expected))
        if data[:size] != expected[:size]:
            raise ConnectionFailed(ErrorCode.PROTOCOL_ERROR, "not an HTTP/2 connection preface")
        self.preface_left = expected[size:]
        return size if not self.preface_left else len(data)

    def _frames(self, data: bytes, pos: int) -> int:
        """Handle every complete frame from ``pos``; return where the incomplete rest starts."""
        end = len(data)
        dispatch = self._dispatch
        max_frame = self.settings.max_frame_size
        while end - pos >= 9 and not self.closed:
            high, low, kind, flags, stream_id = _unpack_header(data, pos)
            length = high << 16 | low
            if length > max_frame:
                raise ConnectionFailed(ErrorCode.FRAME_SIZE_ERROR, f"a frame of {length} bytes")
            start = pos + 9
            if end - start < length:
                break
            pos = start + length
            stream_id &= 0x7FFFFFFF
            if self.continuation is not None and kind != f.CONTINUATION:
                raise ConnectionFailed(ErrorCode.PROTOCOL_ERROR, "a header block was cut")
            if not self.settings_seen and (kind != f.SETTINGS or flags & f.FLAG_ACK):
                raise ConnectionFailed(ErrorCode.PROTOCOL_ERROR, "SETTINGS must come first")
            payload = data[start:pos]
            if kind == f.DATA:
                self._on_data(stream_id, flags, payload)
            elif kind == f.HEADERS:
                if flags & 0x2C == f.FLAG_END_HEADERS and stream_id:
                    # The usual HEADERS frame: a whole block, no padding, no priority.
                    self._header_block(stream_id, flags & f.FLAG_END_STREAM, payload)
                else:
                    self._on_headers(stream_id, flags, payload)
            elif kind < 10:
                dispatch[kind](stream_id, flags, payload)
        return pos

    def _on_data(self, stream_id: int, flags: int, payload: bytes) -> None:
        length = len(payload)
        self.recv_window -= length
        if self.recv_window < 0:
            raise ConnectionFailed(ErrorCode.FLOW_CONTROL_ERROR, "the connection window")
        # The connection window is returned at once: stream windows do the pacing.
        unacked = self.conn_unacked + length
        if unacked >= self.settings.connection_window >> 2:
            self.emit(f.window_update_frame(0, unacked))
            self.recv_window += unacked
            unacked = 0
        self.conn_unacked = unacked
        stream = self.streams.get(stream_id)
        if stream is None:
            if not stream_id or self._is_idle(stream_id):
                raise ConnectionFailed(ErrorCode.PROTOCOL_ERROR, "DATA on an idle stream")
            return
        if stream.remote_closed:
            self.stream_error(stream, ErrorCode.STREAM_CLOSED)
            return
        if flags & f.FLAG_PADDED:
            if not length or payload[0] >= length:
                raise ConnectionFailed(ErrorCode.PROTOCOL_ERROR, "padding longer than DATA")
            payload = payload[1 : length - payload[0]]
        stream.recv_window -= length
        if stream.recv_window < 0:
            self.stream_error(stream, ErrorCode.FLOW_CONTROL_ERROR)
            return
        end = bool(flags & f.FLAG_END_STREAM)
        if end:
            stream.remote_closed = True
        elif stream.hold:
            stream.held += length
        else:
            unacked = stream.unacked + length
            if unacked >= self.settings.stream_window >> 2:
                self.emit(f.window_update_frame(stream_id, unacked))
                stream.recv_window += unacked
                unacked = 0
            stream.unacked = unacked
        if end and stream.local_closed:
            # Done both ways: forgotten first, so the owner sees its slot free already.
            self.forget(stream)
        self.events.on_data(stream, payload, end)

    def _on_headers(self, stream_id: int, flags: int, payload: bytes) -> None:
        if not stream_id:
            raise ConnectionFailed(ErrorCode.PROTOCOL_ERROR, "HEADERS on stream 0")
        if flags & (f.FLAG_PADDED | f.FLAG_PRIORITY):
            start, stop = 0, len(payload)
            if flags & f.FLAG_PADDED:
                start, stop = 1, stop - (payload[0] if payload else 0)
            if flags & f.FLAG_PRIORITY:
                start += 5
            if start > stop:
                raise ConnectionFailed(ErrorCode.PROTOCOL_ERROR, "HEADERS padding too long")
            payload = payload[start:stop]
        if flags & f.FLAG_END_HEADERS:
            self._header_block(stream_id, flags & f.FLAG_END_STREAM, payload)
        else:
            self.continuation = (stream_id, flags & f.FLAG_END_STREAM, [payload], len(payload))

    def _on_continuation(self, stream_id: int, flags: int, payload: bytes) -> None:
        pending = self.continuation
        if pending is None or pending[0] != stream_id:
            raise ConnectionFailed(ErrorCode.PROTOCOL_ERROR, "CONTINUATION out of place")
        _, end_stream, fragments, size = pending
        fragments.append(payload)
        size += len(payload)
        if size > _MAX_BLOCK:
            raise ConnectionFailed(ErrorCode.ENHANCE_YOUR_CALM, "a header block too large")
        if flags & f.FLAG_END_HEADERS:
            self.continuation = None
            self._header_block(stream_id, end_stream, b"".join(fragments))
        else:
            self.continuation = (stream_id, end_stream, fragments, size)

    def _header_block(self, stream_id: int, end_stream: int, block: bytes) -> None:
        try:
            decoded = self.decoder.decode(block)
        except HeaderBlockInvalid as exc:
            raise ConnectionFailed(ErrorCode.COMPRESSION_ERROR, str(exc)) from None
        except HeaderFieldInvalid as exc:
            raise ConnectionFailed(ErrorCode.PROTOCOL_ERROR, str(exc)) from None
        headers = None if self.decoder.oversized else decoded
        stream = self.streams.get(stream_id)
        if stream is None:
            self._new_stream(stream_id, bool(end_stream), headers)
            return
        end = bool(end_stream)
        if stream.remote_closed:
            self.stream_error(stream, ErrorCode.STREAM_CLOSED)
        elif not stream.head_received:
            if self.client_side and headers and headers[0][1][:1] == b"1":
                return  # an interim (1xx) response: the final one follows
            stream.head_received = True
            stream.remote_closed = end
            if end and stream.local_closed:
                self.forget(stream)
            self.events.on_headers(stream, headers, end)
        elif not end:
            self.stream_error(stream, ErrorCode.PROTOCOL_ERROR)
        else:
            stream.remote_closed = True
            if stream.local_closed:
                self.forget(stream)
            self.events.on_trailers(stream, headers or [])

    def _new_stream(
        self, stream_id: int, end: bool, headers: list[tuple[bytes, bytes]] | None
    ) -> None:
        if self.client_side or not stream_id & 1:
            if self._is_idle(stream_id):
                raise ConnectionFailed(ErrorCode.PROTOCOL_ERROR, "HEADERS on an unknown stream")
            return
        if stream_id <= self.last_remote_id:
            return  # a stream already closed: its block was decoded to keep HPACK in step
        self.last_remote_id = stream_id
        if self.goaway_sent:
            return
        if self.active >= self.settings.max_concurrent_streams:
            self.emit(f.rst_stream_frame(stream_id, ErrorCode.REFUSED_STREAM))
            return
        stream = self.events.new_stream(stream_id)
        self.register(stream, stream_id, self.settings.stream_window)
        stream.head_received = True
        stream.remote_closed = end
        self.events.on_headers(stream, headers, end)

    # Flow control of what we receive

    def set_hold(self, stream: StreamState, hold: bool) -> None:
        """Hold (or release) the stream's window: while held the peer gets no new credit."""
        stream.hold = hold
        if hold or not stream.held or stream.remote_closed:
            return
        unacked = stream.unacked + stream.held
        stream.held = 0
        if unacked >= self.settings.stream_window >> 2 and stream.stream_id in self.streams:
            self.emit(f.window_update_frame(stream.stream_id, unacked))
            stream.recv_window += unacked
            unacked = 0
        stream.unacked = unacked

    def drained(self, stream: StreamState) -> None:
        self.events.on_drained(stream)

    def fail(self, code: int, message: str) -> None:
        if self.closed:
            return
        self.emit(f.goaway_frame(self.last_remote_id, code, message.encode()[:256]))
        self.closed = True
        self.goaway_sent = True
        self.events.on_connection_error(code, message)
