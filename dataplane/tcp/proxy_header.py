"""Reading a PROXY protocol header off an accepted socket, before anything else reads it.

The header is peeked (``MSG_PEEK``) until it is whole, then exactly its bytes are consumed, so
whatever follows (a ClientHello, an HTTP request) stays in the socket for the next reader. As
with the ClientHello inspection, readiness is level-triggered while a partial header sits
unread: look again after a short, growing delay instead of spinning. A connection that sends
no whole header within the listener's inspection timeout is disconnected, as is one whose
header is malformed, or one without a header when the listener requires it (Envoy's proxy
protocol filter closes those too).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING

from dataplane.proxy_protocol import (
    MAX_HEADER_LENGTH,
    InvalidProxyHeader,
    Pending,
    forward_peer,
    parse_proxy_header,
)

if TYPE_CHECKING:
    from dataplane.tcp.acceptor import StreamAcceptor

_FIRST_RETRY = 0.001
_LAST_RETRY = 0.05


class ProxyHeaderRead:
    """One accepted connection whose PROXY header is not read yet; ``then`` takes the
    connection once it is."""

    __slots__ = ("acceptor", "connection", "delay", "optional", "retry", "started", "then")

    def __init__(
        self,
        acceptor: StreamAcceptor,
        connection: socket.socket,
        optional: bool,
        then: Callable[[socket.socket], None],
    ) -> None:
        self.acceptor = acceptor
        self.connection = connection
        self.optional = optional
        self.then = then
        self.started = acceptor.owner.clock.now
        self.delay = _FIRST_RETRY
        self.retry: asyncio.TimerHandle | None = None

    def arm(self) -> None:
        self.retry = None
        self.acceptor.loop.add_reader(self.connection.fileno(), self._readable)

    def _readable(self) -> None:
        try:
            data = self.connection.recv(MAX_HEADER_LENGTH, socket.MSG_PEEK)
        except BlockingIOError:
            return
        except OSError:
            self.abandon()
            return
        if not data:
            self.abandon()
            return
        try:
            verdict = parse_proxy_header(data)
        except InvalidProxyHeader:
            self.abandon()
            return
        loop = self.acceptor.loop
        loop.remove_reader(self.connection.fileno())
        if verdict is Pending.INCOMPLETE:
            self.retry = loop.call_later(self.delay, self.arm)
            self.delay = min(self.delay * 2, _LAST_RETRY)
            return
        self.acceptor.inspections.discard(self)
        if verdict is Pending.ABSENT:
            if not self.optional:
                self.connection.close()
                return
        else:
            try:
                # The peeked bytes are already queued: this returns all of them at once.
                self.connection.recv(verdict.length)
                if verdict.source is not None:
                    forward_peer(self.connection, verdict.source)
            except OSError:
                self.connection.close()
                return
        self.then(self.connection)

    def abandon(self) -> None:
        self.acceptor.inspections.discard(self)
        if self.retry is not None:
            self.retry.cancel()
        else:
            self.acceptor.loop.remove_reader(self.connection.fileno())
        self.connection.close()
