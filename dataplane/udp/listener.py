"""A UDP listener running Envoy's udp_proxy: per-client sessions to one cluster.

A datagram from a client address without a session opens one: the cluster's balancer picks an
endpoint (weighted round robin over endpoint load_balancing_weight, where the translator puts a
UDPRoute's backend weights) and the session gets its own connected upstream socket, so replies
are told apart by socket and go back to that client from the listener's address. A session
ends after ``idle_timeout`` without a datagram either way, when its endpoint leaves the cluster,
or with the listener. Sessions are bounded; past the bound new clients' datagrams are dropped.

With several workers each binds the port with SO_REUSEPORT; Linux spreads datagrams over the
sockets by a hash of the 4-tuple, so one client's datagrams always reach the same worker and
its session.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from dataplane.clock import Clock
from dataplane.config.listener import ListenerConfig
from dataplane.stats import ProxyStats
from dataplane.upstream.balancer import ClusterBalancer

MAX_SESSIONS = 16384
MAX_DATAGRAM = 65535
# Datagrams read per readiness callback, so one busy socket cannot starve the loop.
READ_BATCH = 64


class UdpListener:
    def __init__(
        self,
        config: ListenerConfig,
        balancer: ClusterBalancer | None,
        *,
        loop: asyncio.AbstractEventLoop,
        clock: Clock,
        stats: ProxyStats,
    ) -> None:
        assert config.udp is not None
        self.loop = loop
        self.clock = clock
        self.stats = stats
        self.config = config
        self.balancer = balancer
        self.sessions: dict[Any, UdpSession] = {}
        self.sock: socket.socket | None = None
        self.address: tuple[str, int] = (config.host, config.port)

    def start(self, sock: socket.socket) -> None:
        self.sock = sock
        bound = sock.getsockname()
        self.address = (str(bound[0]), int(bound[1]))
        self.loop.add_reader(sock.fileno(), self._readable)

    def update(self, config: ListenerConfig, balancer: ClusterBalancer | None) -> None:
        """New datagrams use the new cluster; sessions whose endpoint is gone end."""
        self.config = config
        self.balancer = balancer
        endpoints = (
            {(e.host, e.port) for e in balancer.config.endpoints} if balancer is not None else set()
        )
        for session in list(self.sessions.values()):
            if session.endpoint not in endpoints:
                session.close()

    def _readable(self) -> None:
        sock = self.sock
        assert sock is not None
        stats = self.stats
        for _ in range(READ_BATCH):
            try:
                data, client = sock.recvfrom(MAX_DATAGRAM)
            except BlockingIOError:
                return
            except OSError:
                continue
            stats.udp_datagrams_received += 1
            session = self.sessions.get(client) or self._open(client)
            if session is None:
                stats.udp_datagrams_dropped += 1
            else:
                session.send(data)

    def _open(self, client: Any) -> UdpSession | None:
        balancer = self.balancer
        if balancer is None or len(self.sessions) >= MAX_SESSIONS:
            return None
        endpoint = balancer.pick()
        if endpoint is None:
            return None
        family = socket.AF_INET6 if ":" in endpoint.host else socket.AF_INET
        upstream = socket.socket(family, socket.SOCK_DGRAM)
        try:
            upstream.setblocking(False)
            # Connected: the kernel filters replies to this endpoint, and send needs no address.
            upstream.connect((endpoint.host, endpoint.port))
        except OSError:
            upstream.close()
            return None
        session = UdpSession(self, client, upstream, (endpoint.host, endpoint.port))
        self.sessions[client] = session
        self.stats.udp_sessions_total += 1
        self.stats.udp_sessions_active += 1
        self.loop.add_reader(upstream.fileno(), session.readable)
        return session

    def reply(self, data: bytes, client: Any) -> None:
        if self.sock is None:
            return
        try:
            self.sock.sendto(data, client)
        except OSError:
            self.stats.udp_datagrams_dropped += 1

    def forget(self, session: UdpSession) -> None:
        if self.sessions.get(session.client) is session:
            del self.sessions[session.client]
            self.stats.udp_sessions_active -= 1

    def check_timeouts(self, now: float) -> None:
        assert self.config.udp is not None
        idle_timeout = self.config.udp.idle_timeout
        if not idle_timeout:
            return
        for session in list(self.sessions.values()):
            if now - session.last_active >= idle_timeout:
                session.close()

    def close(self) -> None:
        for session in list(self.sessions.values()):
            session.close()
        if self.sock is not None:
            self.loop.remove_reader(self.sock.fileno())
            self.sock.close()
            self.sock = None


class UdpSession:
    __slots__ = ("client", "endpoint", "last_active", "listener", "sock")

    def __init__(
        self,
        listener: UdpListener,
        client: Any,
        sock: socket.socket,
        endpoint: tuple[str, int],
    ) -> None:
        self.listener = listener
        self.client = client
        self.sock = sock
        self.endpoint = endpoint
        self.last_active = listener.clock.now

    def send(self, data: bytes) -> None:
        self.last_active = self.listener.clock.now
        try:
            self.sock.send(data)
        except OSError:
            # A full buffer or an ICMP error from an earlier datagram: UDP drops, as Envoy.
            self.listener.stats.udp_datagrams_dropped += 1

    def readable(self) -> None:
        listener = self.listener
        for _ in range(READ_BATCH):
            try:
                data = self.sock.recv(MAX_DATAGRAM)
            except BlockingIOError:
                return
            except OSError:
                # ICMP port unreachable surfaces here; the session stays until it idles out.
                continue
            self.last_active = listener.clock.now
            listener.reply(data, self.client)

    def close(self) -> None:
        if self.sock.fileno() >= 0:
            self.listener.loop.remove_reader(self.sock.fileno())
            self.sock.close()
        self.listener.forget(self)
