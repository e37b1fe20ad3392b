"""Peeking at an accepted socket's first bytes until a decision can be made.

The bytes are peeked (``MSG_PEEK``), never consumed, so the next reader gets them all.
Readiness is level-triggered while a partial message sits unread: instead of spinning, look
again after a short, growing delay. The acceptor keeps every pending peek and abandons those
its inspection timeout ends (``started`` is when the connection was accepted).
"""

from __future__ import annotations

import asyncio
import socket
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from dataplane.tcp.acceptor import StreamAcceptor

_FIRST_RETRY = 0.001
_LAST_RETRY = 0.05


class PeekedConnection:
    """One accepted connection being peeked at; subclasses say what the bytes mean."""

    __slots__ = ("acceptor", "connection", "delay", "retry", "started")

    # The most bytes worth peeking at: the largest message ``examine`` needs whole.
    LIMIT: ClassVar[int]

    def __init__(self, acceptor: StreamAcceptor, connection: socket.socket) -> None:
        self.acceptor = acceptor
        self.connection = connection
        self.started = acceptor.owner.clock.now
        self.delay = _FIRST_RETRY
        self.retry: asyncio.TimerHandle | None = None

    def examine(self, data: bytes) -> bool:
        """Decide on ``data`` (and hand the connection on, or abandon it): True; or False
        when more bytes are needed."""
        raise NotImplementedError

    def arm(self) -> None:
        self.retry = None
        self.acceptor.loop.add_reader(self.connection.fileno(), self._readable)

    def abandon(self) -> None:
        self.acceptor.inspections.discard(self)
        if self.retry is not None:
            self.retry.cancel()
        else:
            self.acceptor.loop.remove_reader(self.connection.fileno())
        self.connection.close()

    def _readable(self) -> None:
        try:
            data = self.connection.recv(self.LIMIT, socket.MSG_PEEK)
        except BlockingIOError:
            return
        except OSError:
            self.abandon()
            return
        if not data:
            self.abandon()
            return
        loop = self.acceptor.loop
        loop.remove_reader(self.connection.fileno())
        if self.examine(data):
            return
        self.retry = loop.call_later(self.delay, self.arm)
        self.delay = min(self.delay * 2, _LAST_RETRY)
