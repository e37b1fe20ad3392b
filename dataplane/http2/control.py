"""The HTTP/2 frames that carry no request or response: SETTINGS, PING, GOAWAY, WINDOW_UPDATE,
RST_STREAM, PRIORITY and PUSH_PROMISE, handled for ``Http2Codec`` (RFC 9113 section 6).
"""

from __future__ import annotations

from dataplane.http2 import frames as f
from dataplane.http2.errors import ConnectionFailed
from dataplane.http2.frames import ErrorCode, Setting
from dataplane.http2.sending import FrameSender
from dataplane.http2.stream import StreamEvents, StreamState


class ControlFrames(FrameSender):
    __slots__ = ("goaway_received", "remote_max_streams", "settings_seen")

    # Owned by ``Http2Codec``.
    events: StreamEvents
    last_remote_id: int

    def _is_idle(self, stream_id: int) -> bool:
        """A stream id never used yet (frames for it other than HEADERS break the protocol)."""
        if (stream_id & 1) == (1 if self.client_side else 0):
            return stream_id >= self.next_stream_id
        return stream_id > self.last_remote_id

    def stream_error(self, stream: StreamState, code: int) -> None:
        """Reset one stream the peer broke and tell its owner."""
        self.reset_stream(stream, code)
        self.events.on_reset(stream, code)

    def _on_rst_stream(self, stream_id: int, flags: int, payload: bytes) -> None:
        if len(payload) != 4:
            raise ConnectionFailed(ErrorCode.FRAME_SIZE_ERROR, "RST_STREAM of the wrong size")
        stream = self.streams.get(stream_id)
        if stream is None:
            if not stream_id or self._is_idle(stream_id):
                raise ConnectionFailed(ErrorCode.PROTOCOL_ERROR, "RST_STREAM on an idle stream")
            return
        stream.local_closed = stream.remote_closed = True
        self.forget(stream)
        self.events.on_reset(stream, f.read_u32(payload, 0))

    def _on_settings(self, stream_id: int, flags: int, payload: bytes) -> None:
        if stream_id:
            raise ConnectionFailed(ErrorCode.PROTOCOL_ERROR, "SETTINGS on a stream")
        if flags & f.FLAG_ACK:
            if payload:
                raise ConnectionFailed(ErrorCode.FRAME_SIZE_ERROR, "SETTINGS ACK with a payload")
            return
        if len(payload) % 6:
            raise ConnectionFailed(ErrorCode.FRAME_SIZE_ERROR, "SETTINGS of the wrong size")
        for key, value in f.read_settings(payload):
            self._apply_setting(key, value)
        self.settings_seen = True
        self.emit(f.SETTINGS_ACK)
        if self.blocked:
            self.flush_blocked()

    def _apply_setting(self, key: int, value: int) -> None:
        if key == Setting.INITIAL_WINDOW_SIZE:
            if value > f.MAX_WINDOW:
                raise ConnectionFailed(ErrorCode.FLOW_CONTROL_ERROR, "INITIAL_WINDOW_SIZE")
            delta = value - self.initial_window
            self.initial_window = value
            for stream in self.streams.values():
                stream.send_window += delta
                if stream.send_window > f.MAX_WINDOW:
                    raise ConnectionFailed(ErrorCode.FLOW_CONTROL_ERROR, "a stream window")
        elif key == Setting.MAX_FRAME_SIZE:
            if not f.DEFAULT_MAX_FRAME <= value <= f.MAX_FRAME_LIMIT:
                raise ConnectionFailed(ErrorCode.PROTOCOL_ERROR, f"MAX_FRAME_SIZE {value}")
            self.max_frame = value
        elif key == Setting.HEADER_TABLE_SIZE:
            self.encoder.resize(value)
        elif key == Setting.MAX_CONCURRENT_STREAMS:
            self.remote_max_streams = value
        elif key == Setting.ENABLE_PUSH and value > 1:
            raise ConnectionFailed(ErrorCode.PROTOCOL_ERROR, f"ENABLE_PUSH {value}")

    def _on_ping(self, stream_id: int, flags: int, payload: bytes) -> None:
        if stream_id:
            raise ConnectionFailed(ErrorCode.PROTOCOL_ERROR, "PING on a stream")
        if len(payload) != 8:
            raise ConnectionFailed(ErrorCode.FRAME_SIZE_ERROR, "PING of the wrong size")
        if not flags & f.FLAG_ACK:
            self.emit(f.ping_ack_frame(payload))

    def _on_goaway(self, stream_id: int, flags: int, payload: bytes) -> None:
        if stream_id:
            raise ConnectionFailed(ErrorCode.PROTOCOL_ERROR, "GOAWAY on a stream")
        if len(payload) < 8:
            raise ConnectionFailed(ErrorCode.FRAME_SIZE_ERROR, "GOAWAY too short")
        last = f.read_u32(payload, 0) & 0x7FFFFFFF
        code = f.read_u32(payload, 4)
        self.goaway_received = True
        if self.client_side:
            for stream in [s for s in self.streams.values() if s.stream_id > last]:
                stream.local_closed = stream.remote_closed = True
                self.forget(stream)
                self.events.on_reset(stream, ErrorCode.REFUSED_STREAM)
        self.events.on_goaway(last, code)

    def _on_window_update(self, stream_id: int, flags: int, payload: bytes) -> None:
        if len(payload) != 4:
            raise ConnectionFailed(ErrorCode.FRAME_SIZE_ERROR, "WINDOW_UPDATE of the wrong size")
        increment = f.read_u32(payload, 0) & 0x7FFFFFFF
        if not stream_id:
            if not increment:
                raise ConnectionFailed(ErrorCode.PROTOCOL_ERROR, "a zero window increment")
            self.send_window += increment
            if self.send_window > f.MAX_WINDOW:
                raise ConnectionFailed(ErrorCode.FLOW_CONTROL_ERROR, "the connection window")
            if self.blocked:
                self.flush_blocked()
            return
        stream = self.streams.get(stream_id)
        if stream is None:
            if self._is_idle(stream_id):
                raise ConnectionFailed(ErrorCode.PROTOCOL_ERROR, "WINDOW_UPDATE on an idle stream")
            return
        stream.send_window += increment
        if not increment or stream.send_window > f.MAX_WINDOW:
            self.stream_error(
                stream, ErrorCode.FLOW_CONTROL_ERROR if increment else ErrorCode.PROTOCOL_ERROR
            )
        elif stream.backlog is not None:
            self.flush_stream(stream)

    def _on_priority(self, stream_id: int, flags: int, payload: bytes) -> None:
        if not stream_id:
            raise ConnectionFailed(ErrorCode.PROTOCOL_ERROR, "PRIORITY on stream 0")

    def _on_push_promise(self, stream_id: int, flags: int, payload: bytes) -> None:
        raise ConnectionFailed(ErrorCode.PROTOCOL_ERROR, "PUSH_PROMISE is not enabled")

    def _ignore(self, stream_id: int, flags: int, payload: bytes) -> None:
        pass
