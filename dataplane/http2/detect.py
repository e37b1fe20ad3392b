"""Which HTTP a new downstream connection speaks: ALPN when TLS negotiated it, otherwise the
first bytes (the HTTP/2 connection preface means prior knowledge, as Envoy's codec AUTO).

The detector owns the transport only until it knows, then hands it over (``set_protocol``) to
an HTTP/1.1 or HTTP/2 connection with the bytes read so far. Meanwhile it is one of the
listener's connections, so drains and the header-read timeout reach it too.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, cast

from dataplane.http2.frames import PREFACE

if TYPE_CHECKING:
    from dataplane.listener import BoundListener


class ProtocolDetector(asyncio.Protocol):
    __slots__ = ("buffer", "listener", "started", "successor", "transport")

    def __init__(self, listener: BoundListener) -> None:
        self.listener = listener
        self.buffer = b""
        # The protocol the transport was handed to; bytes still delivered here go on to it.
        self.successor: asyncio.Protocol | None = None
        self.transport: asyncio.Transport | None = None
        self.started = listener.clock.now

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        ssl_object = transport.get_extra_info("ssl_object")
        alpn = ssl_object.selected_alpn_protocol() if ssl_object is not None else None
        if alpn == "h2":
            self._hand_over(True, b"")
        elif alpn is not None or not self.listener.serves_http2:
            self._hand_over(False, b"")
        elif not self.listener.serves_http1:
            self._hand_over(True, b"")
        else:
            self.listener.connections.add(self)

    def data_received(self, data: bytes) -> None:
        if self.successor is not None:
            self.successor.data_received(data)
            return
        buffer = self.buffer + data
        size = min(len(buffer), len(PREFACE))
        if buffer[:size] != PREFACE[:size]:
            self._hand_over(False, buffer)
        elif size == len(PREFACE):
            self._hand_over(True, buffer)
        else:
            self.buffer = buffer

    def eof_received(self) -> bool | None:
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.listener.connections.discard(self)

    def _hand_over(self, http2: bool, data: bytes) -> None:
        transport = self.transport
        assert transport is not None
        self.listener.connections.discard(self)
        protocol = self.successor = self.listener.new_protocol(http2, transport)
        transport.set_protocol(protocol)
        protocol.connection_made(transport)
        if data and not transport.is_closing():
            protocol.data_received(data)

    # The listener's view of a connection

    def check_timeouts(self, now: float) -> None:
        """A connection that says nothing gets the header-read timeout of its listener."""
        if now - self.started > self.listener.chains[0][1].settings.request_headers_timeout:
            self.abort()

    def drain(self) -> None:
        self.abort()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()
