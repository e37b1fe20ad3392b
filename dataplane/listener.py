"""A bound listening socket and the config attached to it, swapped atomically.

A connection starts as HTTP/1.1 when every filter chain's codec is HTTP1; otherwise a
``ProtocolDetector`` first tells HTTP/1.1 from HTTP/2 (ALPN, or the connection preface).
A listener with tcp_proxy chains accepts through a ``StreamAcceptor`` instead, which peeks the
ClientHello and hands each connection to the chain its SNI selects, HTTP or stream.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Callable
from typing import Protocol

from dataplane.chain import HttpChain
from dataplane.clock import Clock
from dataplane.config.listener import CodecType, FilterChainConfig, ListenerConfig
from dataplane.http1.downstream import DownstreamConnection
from dataplane.http2.detect import ProtocolDetector
from dataplane.http2.downstream import Http2Connection
from dataplane.keepalive import enable_keepalive
from dataplane.stats import ProxyStats
from dataplane.tcp.acceptor import StreamAcceptor, Target
from dataplane.tcp.chain import TcpChain
from dataplane.tcp.session import TcpSession
from dataplane.tls import match_server_name
from dataplane.write_batch import WriteBatch

SocketFactory = Callable[[str, int], socket.socket]
Chains = tuple[tuple[FilterChainConfig, HttpChain, ssl.SSLContext | None], ...]
TcpChains = tuple[TcpChain, ...]
LISTEN_BACKLOG = 1024


class ListenerConnection(Protocol):
    """What the listener does with its connections, whatever their protocol."""

    def check_timeouts(self, now: float) -> None: ...
    def drain(self) -> None: ...
    def abort(self) -> None: ...


def bind_socket(
    host: str, port: int, *, reuse_port: bool = False, datagram: bool = False
) -> socket.socket:
    """The default socket factory; a worker pool passes sockets it bound once instead."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM if datagram else socket.SOCK_STREAM)
    try:
        if not datagram:
            # For UDP this would let a second socket steal the port silently.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


class BoundListener:
    """Owns the server socket; connections read ``chains`` at each request start."""

    def __init__(
        self,
        config: ListenerConfig,
        chains: Chains,
        *,
        loop: asyncio.AbstractEventLoop,
        clock: Clock,
        stats: ProxyStats,
        batch: WriteBatch,
        tcp_chains: TcpChains = (),
    ) -> None:
        self.loop = loop
        self.clock = clock
        self.stats = stats
        self.batch = batch
        self.update(config, chains, tcp_chains)
        self.connections: set[ListenerConnection] = set()
        self.draining = False
        self.server: asyncio.Server | None = None
        self.acceptor: StreamAcceptor | None = None
        self.base_context: ssl.SSLContext | None = None
        self.address: tuple[str, int] = (config.host, config.port)

    async def start(self, sock: socket.socket, base_context: ssl.SSLContext | None) -> None:
        """Serve on ``sock``. A TLS listener's ``base_context`` is its own (never shared): its
        SNI callback hands each handshake the context of the chain the name selects."""
        context = self.base_context = base_context
        if context is not None:
            context.sni_callback = self._select_certificate
        connection = self.config.connection
        if connection.keepalive is not None:
            # Accepted sockets inherit the listening socket's keepalive settings (Linux).
            enable_keepalive(sock, connection.keepalive)
        if self.config.carries_streams:
            self.acceptor = StreamAcceptor(self, sock)
            self.acceptor.start()
        else:
            handshake = connection.handshake_timeout if context is not None else None
            self.server = await self.loop.create_server(
                self._new_connection,
                sock=sock,
                backlog=LISTEN_BACKLOG,
                ssl=context,
                ssl_handshake_timeout=handshake,
            )
        bound = sock.getsockname()
        self.address = (str(bound[0]), int(bound[1]))

    @property
    def buffer_limit(self) -> int:
        return self.config.buffer_limit

    def stream_target(self, server_name: str | None) -> Target | None:
        """Who takes a connection the acceptor inspected: the best-matching chain by SNI, HTTP
        or tcp_proxy (in config order on a tie); None when no chain matches."""
        best_score = -1
        target: Target | None = None
        for entry in self.chains:
            score = match_server_name(server_name, entry[0].server_names)
            if score > best_score:
                best_score = score
                context = self.base_context if entry[0].tls is not None else None
                target = (self._new_connection, context)
        for chain in self.tcp_chains:
            score = match_server_name(server_name, chain.config.server_names)
            if score > best_score:
                best_score = score
                target = (self._stream_factory(chain), chain.context)
        return target

    def _stream_factory(self, chain: TcpChain) -> Callable[[], asyncio.BaseProtocol]:
        return lambda: TcpSession(self, chain)

    def _new_connection(self) -> asyncio.Protocol:
        if self.serves_http2:
            return ProtocolDetector(self)
        return DownstreamConnection(
            self, self.loop, self.clock, self.stats, self.batch, self.config.buffer_limit
        )

    def new_protocol(self, http2: bool, transport: asyncio.BaseTransport) -> asyncio.Protocol:
        """The connection that takes over from a ``ProtocolDetector``."""
        if not http2:
            return DownstreamConnection(
                self, self.loop, self.clock, self.stats, self.batch, self.config.buffer_limit
            )
        ssl_object = transport.get_extra_info("ssl_object")
        server_name = getattr(ssl_object, "agw_server_name", None) if ssl_object else None
        chain = self.chain_for(server_name) or self.chains[0][1]
        return Http2Connection(
            self,
            self.loop,
            self.clock,
            self.stats,
            self.batch,
            self.config.buffer_limit,
            chain.http2,
        )

    def _select_certificate(
        self, ssl_object: ssl.SSLObject, server_name: str | None, _context: ssl.SSLContext
    ) -> None:
        # Server-side SSL objects do not expose the client's SNI; remember it for the
        # connection, which picks its filter chain by it.
        ssl_object.agw_server_name = server_name  # type: ignore[attr-defined]
        chain = self._best_chain(server_name) or self.chains[0]
        if chain[2] is not None:
            ssl_object.context = chain[2]

    def _best_chain(
        self, server_name: str | None
    ) -> tuple[FilterChainConfig, HttpChain, ssl.SSLContext | None] | None:
        best = None
        best_score = -1
        for entry in self.chains:
            score = match_server_name(server_name, entry[0].server_names)
            if score > best_score:
                best, best_score = entry, score
        return best

    def chain_for(self, server_name: str | None) -> HttpChain | None:
        chains = self.chains
        if len(chains) == 1:
            return chains[0][1]
        best = self._best_chain(server_name)
        return best[1] if best is not None else None

    def misdirected(self, chain: HttpChain | None, host: bytes) -> bool:
        """HTTP/2 coalescing: the request names a host that another filter chain serves by
        name than the one its connection's SNI chose (answered 421, as Envoy does)."""
        name = host.decode("latin-1")
        if name.startswith("["):
            name = name[: name.find("]") + 1]
        elif ":" in name:
            name = name.rsplit(":", 1)[0]
        best = None
        best_score = 0
        for entry in self.chains:
            score = match_server_name(name, entry[0].server_names)
            if score > best_score:
                best, best_score = entry[1], score
        return best is not None and best is not chain

    def connection_opened(self, connection: ListenerConnection) -> None:
        self.connections.add(connection)

    def connection_closed(self, connection: ListenerConnection) -> None:
        self.connections.discard(connection)

    def update(self, config: ListenerConfig, chains: Chains, tcp_chains: TcpChains = ()) -> None:
        """Attach a new config; requests that start from now on use it."""
        self.config = config
        self.chains = chains
        self.tcp_chains = tcp_chains
        self.single_chain = chains[0][1] if len(chains) == 1 else None
        codecs = {chain.http.codec for chain in config.filter_chains}
        self.serves_http1 = codecs != {CodecType.HTTP2}
        self.serves_http2 = codecs != {CodecType.HTTP1}

    def drain(self, timeout: float) -> None:
        """Stop accepting, let in-flight exchanges finish, close what is left after ``timeout``."""
        self.draining = True
        if self.server is not None:
            self.server.close()
        if self.acceptor is not None:
            self.acceptor.close()
        for connection in list(self.connections):
            connection.drain()
        if self.connections:
            self.loop.call_later(timeout, self._force_close)

    def _force_close(self) -> None:
        for connection in list(self.connections):
            connection.abort()

    def check_timeouts(self, now: float) -> None:
        if self.acceptor is not None:
            self.acceptor.check_timeouts(now)
        for connection in list(self.connections):
            connection.check_timeouts(now)
