"""HTTP/2 in the echo backend (h2c with prior knowledge, or ALPN h2), on the h2 state machine.

Each stream gets the same JSON answer as HTTP/1.1. A body larger than the peer's flow-control
window waits for WINDOW_UPDATE; a delayed answer runs on its stream's timer, cancelled when the
client resets the stream. A protocol violation ends the connection with h2's GOAWAY. Response
trailers and server push are not sent.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.errors import ErrorCodes
from h2.events import (
    ConnectionTerminated,
    DataReceived,
    RemoteSettingsChanged,
    RequestReceived,
    StreamEnded,
    StreamReset,
    TrailersReceived,
    WindowUpdated,
)
from h2.exceptions import ProtocolError, StreamClosedError
from h2.settings import SettingCodes

from controlplane.echo.http1 import MAX_BODY_BYTES
from controlplane.echo.listener import ListenerState
from controlplane.echo.reply import EchoRequest, Origin, Reply, build_reply, text_of

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
# Larger than the 64 KiB default so uploads are not paced by one round trip per window.
_RECEIVE_WINDOW = 4 * 1024 * 1024
_MAX_CONCURRENT_STREAMS = 256


class _Stream:
    __slots__ = ("body", "headers", "outgoing", "timer", "trailers")

    def __init__(self, headers: list[tuple[bytes, bytes]]) -> None:
        self.headers = headers
        self.body = bytearray()
        self.trailers: list[tuple[bytes, bytes]] = []
        self.timer: asyncio.TimerHandle | None = None
        self.outgoing: memoryview | None = None


def _request(stream: _Stream) -> EchoRequest:
    pseudo: dict[bytes, bytes] = {}
    fields: list[tuple[str, str]] = []
    for name, value in stream.headers:
        if name.startswith(b":"):
            pseudo[name] = value
        else:
            fields.append((name.decode("latin-1"), text_of(value)))
    authority = pseudo.get(b":authority")
    host = text_of(authority) if authority is not None else None
    if host is None:
        host = next((value for name, value in fields if name == "host"), None)
    return EchoRequest(
        method=text_of(pseudo.get(b":method", b"")),
        target=text_of(pseudo.get(b":path", b"")),
        host=host,
        headers=fields,
        protocol="HTTP/2",
        body=bytes(stream.body),
        trailers=[(name.decode("latin-1"), text_of(value)) for name, value in stream.trailers],
    )


class Http2Connection(asyncio.Protocol):
    def __init__(self, listener: ListenerState, origin: Origin) -> None:
        self._listener = listener
        self._origin = origin
        self._h2 = H2Connection(H2Configuration(client_side=False, header_encoding=None))
        self._streams: dict[int, _Stream] = {}
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        self._listener.opened(self._transport)
        self._h2.initiate_connection()
        self._h2.update_settings(
            {
                SettingCodes.INITIAL_WINDOW_SIZE: _RECEIVE_WINDOW,
                SettingCodes.MAX_CONCURRENT_STREAMS: _MAX_CONCURRENT_STREAMS,
            }
        )
        self._h2.increment_flow_control_window(_RECEIVE_WINDOW - 65535)
        self._write_pending()

    def connection_lost(self, exc: Exception | None) -> None:
        for stream in self._streams.values():
            if stream.timer is not None:
                stream.timer.cancel()
        self._streams.clear()
        if self._transport is not None:
            self._listener.closed(self._transport)

    def pause_writing(self) -> None:
        if self._transport is not None:
            self._transport.pause_reading()

    def resume_writing(self) -> None:
        if self._transport is not None:
            self._transport.resume_reading()

    def data_received(self, data: bytes) -> None:
        if self._transport is None or self._transport.is_closing():
            return
        try:
            events = self._h2.receive_data(data)
        except ProtocolError:
            self._write_pending()
            self._transport.close()
            return
        for event in events:
            self._handle(event)
        self._write_pending()

    def _handle(self, event: Any) -> None:
        if isinstance(event, RequestReceived):
            self._streams[event.stream_id] = _Stream(list(event.headers))
        elif isinstance(event, DataReceived):
            self._receive_body(event.stream_id, event.data, event.flow_controlled_length)
        elif isinstance(event, TrailersReceived):
            if (stream := self._streams.get(event.stream_id)) is not None:
                stream.trailers = list(event.headers)
        elif isinstance(event, StreamEnded):
            self._answer(event.stream_id)
        elif isinstance(event, StreamReset):
            self._forget(event.stream_id)
        elif isinstance(event, WindowUpdated | RemoteSettingsChanged):
            for stream_id, stream in list(self._streams.items()):
                if stream.outgoing is not None:
                    self._send_body(stream_id, stream)
        elif isinstance(event, ConnectionTerminated) and self._transport is not None:
            self._transport.close()

    def _receive_body(self, stream_id: int, data: bytes, flow_controlled: int) -> None:
        self._h2.acknowledge_received_data(flow_controlled, stream_id)
        stream = self._streams.get(stream_id)
        if stream is None:
            return
        stream.body += data
        if len(stream.body) > MAX_BODY_BYTES:
            self._h2.reset_stream(stream_id, ErrorCodes.REFUSED_STREAM)
            self._forget(stream_id)

    def _answer(self, stream_id: int) -> None:
        stream = self._streams.get(stream_id)
        if stream is None:
            return
        request = _request(stream)
        self._listener.count_request()
        reply = build_reply(request, self._origin)
        head_only = request.method == "HEAD"
        if reply.delay <= 0:
            self._respond(stream_id, reply, head_only)
            return
        stream.timer = asyncio.get_running_loop().call_later(
            reply.delay, self._respond_later, stream_id, reply, head_only
        )

    def _respond_later(self, stream_id: int, reply: Reply, head_only: bool) -> None:
        self._respond(stream_id, reply, head_only)
        self._write_pending()

    def _respond(self, stream_id: int, reply: Reply, head_only: bool) -> None:
        stream = self._streams.get(stream_id)
        if stream is None:
            return
        stream.timer = None
        headers = [(":status", str(reply.status)), *reply.headers]
        if reply.has_body:
            headers.append(("content-length", str(len(reply.body))))
        bodyless = not reply.has_body or head_only or not reply.body
        try:
            self._h2.send_headers(stream_id, headers, end_stream=bodyless)
        except StreamClosedError:
            self._forget(stream_id)
            return
        if bodyless:
            self._forget(stream_id)
            return
        stream.outgoing = memoryview(reply.body)
        self._send_body(stream_id, stream)

    def _send_body(self, stream_id: int, stream: _Stream) -> None:
        data = stream.outgoing
        # Each pass sends at least one byte or returns, so the loop ends within len(data) passes.
        while data:
            window = self._h2.local_flow_control_window(stream_id)
            size = min(window, self._h2.max_outbound_frame_size, len(data))
            if size <= 0:
                stream.outgoing = data
                return
            try:
                self._h2.send_data(stream_id, bytes(data[:size]), end_stream=size == len(data))
            except StreamClosedError:
                break
            data = data[size:]
        self._forget(stream_id)

    def _forget(self, stream_id: int) -> None:
        stream = self._streams.pop(stream_id, None)
        if stream is not None and stream.timer is not None:
            stream.timer.cancel()

    def _write_pending(self) -> None:
        outgoing = self._h2.data_to_send()
        if outgoing and self._transport is not None:
            self._transport.write(outgoing)
