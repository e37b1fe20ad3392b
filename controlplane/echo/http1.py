"""HTTP/1.x in the echo backend: httptools parsing, in-order replies, one write per reply.

Pipelined requests are answered in arrival order even when an earlier one is delayed; reading
pauses while too many answers wait or the peer stops reading. ``Expect: 100-continue`` gets its
interim answer before the body. A valid WebSocket upgrade hands the connection to
``WebSocketConnection`` once the 101 is written; any other upgrade (and CONNECT) is answered
like a plain request and the connection closed. Malformed input closes the connection.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from http import HTTPStatus
from typing import cast

import httptools

from controlplane.echo.listener import ListenerState
from controlplane.echo.reply import EchoRequest, Origin, Reply, build_reply, text_of
from controlplane.echo.websocket import WebSocketConnection, handshake_reply, is_websocket_upgrade

MAX_BODY_BYTES = 64 * 1024 * 1024
_MAX_WAITING_REPLIES = 32
# Frames a client sends before its 101 is written (it may be queued behind delayed answers).
_MAX_EARLY_FRAME_BYTES = 1024 * 1024
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_BAD_HANDSHAKE = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
_REASONS = {status.value: status.phrase.encode() for status in HTTPStatus}


class _BodyTooLarge(Exception):
    pass


class _Slot:
    """One answer in arrival order; ``payload`` is None while a delay runs."""

    __slots__ = ("payload", "then", "timer")

    def __init__(self, payload: bytes | None, then: Callable[[], None] | None = None) -> None:
        self.payload = payload
        self.then = then
        self.timer: asyncio.TimerHandle | None = None


def serialize(reply: Reply, *, head_only: bool, keep_alive: bool) -> bytes:
    reason = _REASONS.get(reply.status, b"Unknown")
    parts = [b"HTTP/1.1 %d %s\r\n" % (reply.status, reason)]
    parts.extend(b"%s: %s\r\n" % (name.encode(), value.encode()) for name, value in reply.headers)
    if reply.has_body:
        parts.append(b"content-length: %d\r\n" % len(reply.body))
    if not keep_alive:
        parts.append(b"connection: close\r\n")
    parts.append(b"\r\n")
    if reply.has_body and not head_only:
        parts.append(reply.body)
    return b"".join(parts)


class Http1Connection(asyncio.Protocol):
    def __init__(self, listener: ListenerState, origin: Origin) -> None:
        self._listener = listener
        self._origin = origin
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._url: list[bytes] = []
        self._headers: list[tuple[str, str]] = []
        self._trailers: list[tuple[str, str]] = []
        self._in_trailers = False
        self._body = bytearray()
        self._replies: deque[_Slot] = deque()
        self._websocket_request: EchoRequest | None = None
        self._after_upgrade: bytearray | None = None
        self._reading = True  # no further request is read once False (closing or upgraded)
        self._write_paused = False
        self._read_paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        self._listener.opened(self._transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self._reading = False
        for slot in self._replies:
            if slot.timer is not None:
                slot.timer.cancel()
        self._replies.clear()
        if self._transport is not None:
            self._listener.closed(self._transport)

    def eof_received(self) -> bool:
        # A client may half-close after its last request; stay open to send delayed answers.
        if self._replies and self._transport is not None:
            self._replies[-1].then = self._close
            return self._transport.get_extra_info("sslcontext") is None
        return False

    def pause_writing(self) -> None:
        self._write_paused = True
        self._update_reading()

    def resume_writing(self) -> None:
        self._write_paused = False
        self._update_reading()

    def data_received(self, data: bytes) -> None:
        if self._after_upgrade is not None:
            self._after_upgrade += data
            if len(self._after_upgrade) > _MAX_EARLY_FRAME_BYTES and not self._read_paused:
                self._read_paused = True
                cast(asyncio.Transport, self._transport).pause_reading()
            return
        if not self._reading:
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:
            self._upgrade(data[upgrade.args[0] :])
        except httptools.HttpParserError:
            self._fail()

    # httptools callbacks, in the order the parser makes them.

    def on_message_begin(self) -> None:
        self._url = []
        self._headers = []
        self._trailers = []
        self._in_trailers = False
        self._body = bytearray()

    def on_url(self, url: bytes) -> None:
        self._url.append(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        field = (name.decode("latin-1").lower(), text_of(value))
        (self._trailers if self._in_trailers else self._headers).append(field)

    def on_headers_complete(self) -> None:
        self._in_trailers = True
        expect = next((value for name, value in self._headers if name == "expect"), None)
        if expect is not None and expect.lower() == "100-continue":
            self._replies.append(_Slot(_CONTINUE))
            self._flush()

    def on_body(self, body: bytes) -> None:
        self._body += body
        if len(self._body) > MAX_BODY_BYTES:
            raise _BodyTooLarge

    def on_message_complete(self) -> None:
        if not self._reading:
            return
        request = self._request()
        self._listener.count_request()
        upgrading = self._parser.should_upgrade()
        if upgrading and is_websocket_upgrade(request):
            self._websocket_request = request
            return
        keep_alive = self._parser.should_keep_alive() and not upgrading
        self._answer(request, keep_alive)

    def _request(self) -> EchoRequest:
        host = next((value for name, value in self._headers if name == "host"), None)
        return EchoRequest(
            method=self._parser.get_method().decode("latin-1"),
            target=text_of(b"".join(self._url)),
            host=host,
            headers=self._headers,
            protocol="HTTP/" + self._parser.get_http_version(),
            body=bytes(self._body),
            trailers=self._trailers,
        )

    def _answer(self, request: EchoRequest, keep_alive: bool) -> None:
        reply = build_reply(request, self._origin)
        payload = serialize(reply, head_only=request.method == "HEAD", keep_alive=keep_alive)
        then = None if keep_alive else self._close
        if not keep_alive:
            self._reading = False
        if reply.delay <= 0:
            self._replies.append(_Slot(payload, then))
        else:
            slot = _Slot(None, then)
            slot.timer = asyncio.get_running_loop().call_later(
                reply.delay, self._deliver, slot, payload
            )
            self._replies.append(slot)
        self._flush()

    def _deliver(self, slot: _Slot, payload: bytes) -> None:
        slot.payload = payload
        slot.timer = None
        self._flush()

    def _flush(self) -> None:
        transport = self._transport
        if transport is None:
            return
        while self._replies and self._replies[0].payload is not None:
            slot = self._replies.popleft()
            transport.write(cast(bytes, slot.payload))
            if slot.then is not None:
                slot.then()
                return
        self._update_reading()

    def _update_reading(self) -> None:
        if self._transport is None or self._transport.is_closing():
            return
        should_pause = self._write_paused or len(self._replies) >= _MAX_WAITING_REPLIES
        if should_pause and not self._read_paused:
            self._transport.pause_reading()
        elif not should_pause and self._read_paused:
            self._transport.resume_reading()
        self._read_paused = should_pause

    def _upgrade(self, rest: bytes) -> None:
        """The parser stopped after an upgrade request; bytes after it are not HTTP/1.x."""
        self._reading = False
        request, self._websocket_request = self._websocket_request, None
        if request is None:
            # CONNECT or a non-WebSocket upgrade: answered like a plain request, then closed.
            if self._replies:
                self._replies[-1].then = self._replies[-1].then or self._close
            else:
                self._close()
            return
        accepted = handshake_reply(request, self._origin.backend)
        if accepted is None:
            self._replies.append(_Slot(_BAD_HANDSHAKE, self._close))
        else:
            self._after_upgrade = bytearray(rest)
            self._replies.append(_Slot(accepted, self._switch_to_websocket))
        self._flush()

    def _switch_to_websocket(self) -> None:
        assert self._transport is not None and self._after_upgrade is not None
        transport, pending = self._transport, bytes(self._after_upgrade)
        # The WebSocket protocol registers the transport again; this one stops owning it.
        self._listener.closed(transport)
        self._transport = None
        websocket = WebSocketConnection(self._listener)
        websocket.connection_made(transport)
        transport.set_protocol(websocket)
        if self._read_paused:
            transport.resume_reading()
        if pending:
            websocket.data_received(pending)

    def _close(self) -> None:
        self._reading = False
        if self._transport is not None:
            self._transport.close()

    def _fail(self) -> None:
        for slot in self._replies:
            if slot.timer is not None:
                slot.timer.cancel()
        self._replies.clear()
        self._close()
