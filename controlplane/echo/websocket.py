"""WebSocket in the echo backend: the 101 handshake, then every data frame echoed back.

Data frames go back as they came (same opcode and FIN bit), so a fragmented message stays
fragmented; a ping gets a pong with its payload; a close is answered with the peer's status code
and the connection ends. A frame that breaks RFC 6455 gets a 1002 close. Permessage-deflate and
other extensions are never negotiated.
"""

from __future__ import annotations

import asyncio
import struct
from typing import cast

from controlplane.echo.errors import FrameInvalid
from controlplane.echo.framing import (
    Frame,
    FrameDecoder,
    Opcode,
    accept_key,
    encode_frame,
    is_valid_client_key,
)
from controlplane.echo.listener import ListenerState
from controlplane.echo.reply import BACKEND_HEADER, EchoRequest

_PROTOCOL_ERROR = 1002


def is_websocket_upgrade(request: EchoRequest) -> bool:
    upgrade = request.header("upgrade")
    if upgrade is None:
        return False
    return "websocket" in (token.strip().lower() for token in upgrade.split(","))


def handshake_reply(request: EchoRequest, backend: str) -> bytes | None:
    """The 101 answer to a valid opening handshake, or None when the handshake is invalid."""
    key = request.header("sec-websocket-key")
    if (
        request.method != "GET"
        or key is None
        or not is_valid_client_key(key)
        or request.header("sec-websocket-version") != "13"
    ):
        return None
    lines = [
        "HTTP/1.1 101 Switching Protocols",
        "upgrade: websocket",
        "connection: Upgrade",
        f"sec-websocket-accept: {accept_key(key)}",
        f"{BACKEND_HEADER}: {backend}",
    ]
    offered = request.header("sec-websocket-protocol")
    if offered:
        # A client that offers subprotocols fails the handshake unless one is chosen.
        lines.append(f"sec-websocket-protocol: {offered.split(',')[0].strip()}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class WebSocketConnection(asyncio.Protocol):
    """Takes over a connection after the 101 has been written."""

    def __init__(self, listener: ListenerState) -> None:
        self._listener = listener
        self._decoder = FrameDecoder()
        self._transport: asyncio.Transport | None = None
        self._closing = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        self._listener.opened(self._transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._transport is not None:
            self._listener.closed(self._transport)

    def pause_writing(self) -> None:
        if self._transport is not None:
            self._transport.pause_reading()

    def resume_writing(self) -> None:
        if self._transport is not None and not self._closing:
            self._transport.resume_reading()

    def data_received(self, data: bytes) -> None:
        if self._closing or self._transport is None:
            return
        try:
            frames = self._decoder.feed(data)
        except FrameInvalid:
            self._close(struct.pack("!H", _PROTOCOL_ERROR))
            return
        echoed = bytearray()
        for frame in frames:
            if frame.opcode is Opcode.CLOSE:
                self._transport.write(bytes(echoed))
                self._close(_close_code(frame.payload))
                return
            echoed += _answer(frame)
        if echoed:
            self._transport.write(bytes(echoed))

    def _close(self, payload: bytes) -> None:
        assert self._transport is not None
        self._closing = True
        self._transport.write(encode_frame(Frame(Opcode.CLOSE, payload)))
        self._transport.close()


def _answer(frame: Frame) -> bytes:
    if frame.opcode is Opcode.PING:
        return encode_frame(Frame(Opcode.PONG, frame.payload))
    if frame.opcode is Opcode.PONG:
        return b""
    return encode_frame(frame)


def _close_code(payload: bytes) -> bytes:
    """The peer's status code to send back: none if it sent none, 1002 for a 1-byte body."""
    if not payload:
        return b""
    if len(payload) == 1:
        return struct.pack("!H", _PROTOCOL_ERROR)
    return payload[:2]
