"""Reading a PROXY protocol header off an accepted socket, before anything else reads it.

The header is peeked until it is whole (``dataplane.tcp.peek``), then exactly its bytes are
consumed, so whatever follows (a ClientHello, an HTTP request) stays in the socket for the next
reader. A connection that sends
no whole header within the listener's inspection timeout is disconnected, as is one whose
header is malformed, or one without a header when the listener requires it (Envoy's proxy
protocol filter closes those too).
"""

from __future__ import annotations

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
from dataplane.tcp.peek import PeekedConnection

if TYPE_CHECKING:
    from dataplane.tcp.acceptor import StreamAcceptor


class ProxyHeaderRead(PeekedConnection):
    """One accepted connection whose PROXY header is not read yet; ``then`` takes the
    connection once it is."""

    __slots__ = ("optional", "then")
    LIMIT = MAX_HEADER_LENGTH

    def __init__(
        self,
        acceptor: StreamAcceptor,
        connection: socket.socket,
        optional: bool,
        then: Callable[[socket.socket], None],
    ) -> None:
        super().__init__(acceptor, connection)
        self.optional = optional
        self.then = then

    def examine(self, data: bytes) -> bool:
        try:
            verdict = parse_proxy_header(data)
        except InvalidProxyHeader:
            self.abandon()
            return True
        if verdict is Pending.INCOMPLETE:
            return False
        self.acceptor.inspections.discard(self)
        if verdict is Pending.ABSENT:
            if not self.optional:
                self.connection.close()
                return True
        else:
            try:
                # The peeked bytes are already queued: this returns all of them at once.
                self.connection.recv(verdict.length)
                if verdict.source is not None:
                    forward_peer(self.connection, verdict.source, verdict.source_port)
            except OSError:
                self.connection.close()
                return True
        self.then(self.connection)
        return True
