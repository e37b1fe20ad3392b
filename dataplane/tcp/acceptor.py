"""Accepting on a listener with tcp_proxy chains: peek the ClientHello, then pick the chain.

As Envoy's tls_inspector, the ClientHello is peeked (``MSG_PEEK``), never consumed: whichever
chain the SNI selects reads the handshake from the socket itself, a passthrough chain forwards
it untouched, a terminating chain (HTTPS or tcp_proxy) hands the socket to the TLS stack. Bytes
that are not TLS select by no name (only a chain without server names matches). A client that
sends no complete ClientHello within ``inspection_timeout`` is disconnected.

On a listener that expects the PROXY protocol, its header is read first
(``dataplane.tcp.proxy_header``), then the ClientHello is inspected as usual.

Readiness is level-triggered here: while a partial ClientHello sits unread the socket stays
readable, so the inspection looks again after a short, growing delay instead of spinning.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Callable
from typing import Protocol

from dataplane.clock import Clock
from dataplane.config.connection import ProxyMode
from dataplane.config.listener import ListenerConfig
from dataplane.sni import MAX_CLIENT_HELLO, ClientHello, Verdict, inspect_client_hello
from dataplane.tcp.peek import PeekedConnection
from dataplane.tcp.proxy_header import ProxyHeaderRead

LISTEN_BACKLOG = 1024
# After an accept error such as EMFILE, wait before accepting again rather than spin.
_ACCEPT_BACKOFF = 0.1

# What takes over an accepted socket: a protocol factory and the TLS context to terminate with.
Target = tuple[Callable[[], asyncio.BaseProtocol], ssl.SSLContext | None]


class AcceptorOwner(Protocol):
    loop: asyncio.AbstractEventLoop
    clock: Clock
    config: ListenerConfig

    def stream_target(self, server_name: str | None) -> Target | None: ...


class StreamAcceptor:
    def __init__(self, owner: AcceptorOwner, sock: socket.socket) -> None:
        self.owner = owner
        self.loop = owner.loop
        self.sock = sock
        self.closed = False
        self.inspections: set[PeekedConnection] = set()
        self.handovers: set[asyncio.Task[None]] = set()
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.sock.listen(LISTEN_BACKLOG)
        self.task = self.loop.create_task(self._accept())

    async def _accept(self) -> None:
        # Runs for the listener's lifetime; ``close`` cancels it.
        while not self.closed:
            try:
                connection, _ = await self.loop.sock_accept(self.sock)
            except OSError:
                await asyncio.sleep(_ACCEPT_BACKOFF)
                continue
            connection.setblocking(False)
            mode = self.owner.config.connection.proxy_protocol
            if mode is not None:
                optional = mode is ProxyMode.OPTIONAL
                reading = ProxyHeaderRead(self, connection, optional, self.inspect)
                self.inspections.add(reading)
                reading.arm()
            else:
                self.inspect(connection)

    def inspect(self, connection: socket.socket) -> None:
        if self.owner.config.inspects_tls:
            inspection = _Inspection(self, connection)
            self.inspections.add(inspection)
            inspection.arm()
        else:
            self.dispatch(connection, None)

    def dispatch(self, connection: socket.socket, server_name: str | None) -> None:
        target = self.owner.stream_target(server_name)
        if target is None or self.closed:
            connection.close()
            return
        task = self.loop.create_task(self._hand_over(connection, *target))
        self.handovers.add(task)
        task.add_done_callback(self.handovers.discard)

    async def _hand_over(
        self,
        connection: socket.socket,
        factory: Callable[[], asyncio.BaseProtocol],
        context: ssl.SSLContext | None,
    ) -> None:
        config = self.owner.config
        timeout = (
            (config.connection.handshake_timeout or config.inspection_timeout)
            if context is not None
            else None
        )
        try:
            await self.loop.connect_accepted_socket(
                factory, connection, ssl=context, ssl_handshake_timeout=timeout
            )
        except (OSError, TimeoutError, EOFError):
            connection.close()

    def check_timeouts(self, now: float) -> None:
        limit = self.owner.config.inspection_timeout
        for inspection in list(self.inspections):
            if now - inspection.started > limit:
                inspection.abandon()

    def close(self) -> None:
        self.closed = True
        if self.task is not None:
            self.task.cancel()
        for inspection in list(self.inspections):
            inspection.abandon()
        for task in list(self.handovers):
            task.cancel()
        self.sock.close()


class _Inspection(PeekedConnection):
    """One accepted connection whose ClientHello is not complete yet."""

    __slots__ = ()
    LIMIT = MAX_CLIENT_HELLO

    def examine(self, data: bytes) -> bool:
        verdict = inspect_client_hello(data)
        if verdict is Verdict.INCOMPLETE and len(data) < MAX_CLIENT_HELLO:
            return False
        self.acceptor.inspections.discard(self)
        server_name = verdict.server_name if isinstance(verdict, ClientHello) else None
        self.acceptor.dispatch(self.connection, server_name)
        return True
