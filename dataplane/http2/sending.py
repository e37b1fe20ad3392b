"""The sending half of the HTTP/2 codec: stream registry, HEADERS and DATA out, flow control.

DATA that fits the peer's windows goes out at once as one frame; the rest waits in the stream's
backlog, in order, followed by END_STREAM or trailers, until WINDOW_UPDATE or SETTINGS open the
windows again. Header blocks are encoded when they are emitted, so the HPACK state always
follows wire order.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from dataplane.http2 import frames as f
from dataplane.http2.compression import HeaderEncoder
from dataplane.http2.frames import ErrorCode
from dataplane.http2.stream import Field, StreamState

_pack_header = f.FRAME_HEADER.pack
# Small DATA payloads are joined to their frame header; large ones go out as two writes.
_JOIN_BELOW = 4096
# A stream whose backlog holds more than this asks its producer to stop.
BACKLOG_LIMIT = 256 * 1024


class FrameSender:
    __slots__ = (
        "active",
        "blocked",
        "client_side",
        "closed",
        "emit",
        "encoder",
        "goaway_sent",
        "initial_window",
        "max_frame",
        "next_stream_id",
        "send_window",
        "streams",
    )

    def __init__(
        self, emit: Callable[[bytes], None], encoder: HeaderEncoder, client_side: bool
    ) -> None:
        self.emit = emit
        self.encoder = encoder
        self.client_side = client_side
        self.streams: dict[int, StreamState] = {}
        # Open streams (both ends count only the streams the client side opened).
        self.active = 0
        self.blocked: dict[int, StreamState] = {}
        self.send_window = f.DEFAULT_WINDOW
        self.initial_window = f.DEFAULT_WINDOW
        self.max_frame = f.DEFAULT_MAX_FRAME
        self.next_stream_id = 1
        self.closed = False
        self.goaway_sent = False

    def register(self, stream: StreamState, stream_id: int, receive_window: int) -> None:
        stream.stream_id = stream_id
        stream.send_window = self.initial_window
        stream.recv_window = receive_window
        self.streams[stream_id] = stream
        self.active += 1

    def open_stream(self, stream: StreamState, receive_window: int) -> None:
        """Client side: give ``stream`` the next id. Its HEADERS must be the next ones sent."""
        self.register(stream, self.next_stream_id, receive_window)
        self.next_stream_id += 2

    def forget(self, stream: StreamState) -> None:
        stream_id = stream.stream_id
        if self.streams.pop(stream_id, None) is not None:
            self.active -= 1
            if stream.backlog is not None:
                self.blocked.pop(stream_id, None)
                stream.backlog = None

    def send_headers(self, stream: StreamState, headers: list[Field], end: bool) -> None:
        if stream.local_closed or self.closed:
            return
        if stream.backlog is not None:
            # Trailers follow the DATA still waiting for window.
            stream.backlog_trailers = headers
            stream.backlog_end = True
            return
        block = self.encoder.encode(headers)
        size = len(block)
        stream_id = stream.stream_id
        flags = f.FLAG_END_STREAM if end else 0
        max_frame = self.max_frame
        if size <= max_frame:
            self.emit(
                _pack_header(size >> 16, size & 0xFFFF, f.HEADERS, flags | 4, stream_id) + block
            )
        else:
            self._emit_split_block(stream_id, flags, block)
        if end:
            self._close_local(stream)

    def _emit_split_block(self, stream_id: int, flags: int, block: bytes) -> None:
        max_frame = self.max_frame
        pieces = [block[i : i + max_frame] for i in range(0, len(block), max_frame)]
        frames = [f.frame_header(len(pieces[0]), f.HEADERS, flags, stream_id) + pieces[0]]
        for index, piece in enumerate(pieces[1:], start=2):
            last = f.FLAG_END_HEADERS if index == len(pieces) else 0
            frames.append(f.frame_header(len(piece), f.CONTINUATION, last, stream_id) + piece)
        self.emit(b"".join(frames))

    def send_data(self, stream: StreamState, data: bytes, end: bool) -> None:
        if stream.local_closed or self.closed:
            return
        if stream.backlog is not None:
            if data:
                stream.backlog.append(data)
                stream.backlog_size += len(data)
            stream.backlog_end = stream.backlog_end or end
            return
        size = len(data)
        if size <= stream.send_window and size <= self.send_window and size <= self.max_frame:
            header = _pack_header(
                size >> 16, size & 0xFFFF, f.DATA, 1 if end else 0, stream.stream_id
            )
            if size < _JOIN_BELOW:
                self.emit(header + data)
            else:
                self.emit(header)
                self.emit(data)
            stream.send_window -= size
            self.send_window -= size
            if end:
                self._close_local(stream)
            return
        stream.backlog = deque((data,))
        stream.backlog_size = size
        stream.backlog_end = end
        self.blocked[stream.stream_id] = stream
        self.flush_stream(stream)

    def flush_stream(self, stream: StreamState) -> None:
        """Send as much of the backlog as the windows allow."""
        backlog = stream.backlog
        assert backlog is not None
        stream_id = stream.stream_id
        while backlog:
            allowed = min(stream.send_window, self.send_window, self.max_frame)
            if allowed <= 0:
                break
            data = backlog[0]
            piece = data[:allowed]
            if len(piece) < len(data):
                backlog[0] = data[len(piece) :]
            else:
                backlog.popleft()
            size = len(piece)
            stream.backlog_size -= size
            stream.send_window -= size
            self.send_window -= size
            last = not backlog and stream.backlog_end and stream.backlog_trailers is None
            self.emit(f.frame_header(size, f.DATA, 1 if last else 0, stream_id) + piece)
        if stream.stalled and stream.backlog_size < BACKLOG_LIMIT >> 1:
            stream.stalled = False
            self.drained(stream)
        if backlog:
            return
        stream.backlog = None
        self.blocked.pop(stream_id, None)
        trailers = stream.backlog_trailers
        if trailers is not None:
            stream.backlog_trailers = None
            self.send_headers(stream, trailers, True)
        elif stream.backlog_end:
            self._close_local(stream)

    def drained(self, stream: StreamState) -> None:
        """A stalled stream's backlog went below half the limit."""

    def flush_blocked(self) -> None:
        for stream in list(self.blocked.values()):
            if self.send_window <= 0:
                return
            if stream.backlog is not None:
                self.flush_stream(stream)

    def _close_local(self, stream: StreamState) -> None:
        stream.local_closed = True
        if stream.remote_closed:
            self.forget(stream)
        elif stream.reset_when_sent:
            self.reset_stream(stream, ErrorCode.NO_ERROR)

    def reset_stream(self, stream: StreamState, code: int) -> None:
        """Abandon a stream: RST_STREAM unless it already ended on both sides."""
        stream.local_closed = stream.remote_closed = True
        if stream.stream_id in self.streams:
            self.forget(stream)
            if not self.closed:
                self.emit(f.rst_stream_frame(stream.stream_id, code))

    def goaway(self, last_stream_id: int, code: int = ErrorCode.NO_ERROR) -> None:
        """Announce that no stream above ``last_stream_id`` will be processed."""
        if not self.closed and not self.goaway_sent:
            self.goaway_sent = True
            self.emit(f.goaway_frame(last_stream_id, code))
