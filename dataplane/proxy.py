"""The agw proxy's runtime: bound listeners, upstream pools, and atomic config swaps.

``Proxy.apply`` takes a compiled ``RuntimeConfig``. Listener sockets are keyed by address:
a listener whose address stays keeps its socket and its connections (requests that start after
the swap use the new routes), a new address is bound, a vanished one stops accepting and its
connections drain. Sockets come from a factory so a worker pool can hand in sockets it bound
once and shares (SO_REUSEPORT). UDP listeners (udp_proxy) are kept apart: a TCP and a UDP
listener may share an address and port.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
from collections.abc import Mapping
from typing import TYPE_CHECKING

from dataplane.access_log import AccessLog
from dataplane.chain import HttpChain
from dataplane.clock import Clock
from dataplane.config.connection import TlsParams
from dataplane.config.listener import DownstreamTls, ListenerConfig
from dataplane.config.runtime import EMPTY_CONFIG, RuntimeConfig
from dataplane.errors import InvalidConfig, ListenerBindError
from dataplane.http1.wire import DATE
from dataplane.listener import BoundListener, Chains, SocketFactory, TcpChains, bind_socket
from dataplane.stats import ProxyStats
from dataplane.tcp.chain import TcpChain
from dataplane.tls import ClientCheck, fingerprint, server_context
from dataplane.udp.listener import UdpListener
from dataplane.upstream.balancer import ClusterBalancer
from dataplane.upstream.pool import UpstreamPools
from dataplane.write_batch import WriteBatch

if TYPE_CHECKING:
    from dataplane.config.tracing import ExportTarget
    from dataplane.span_export import SpanExporter

TICK_SECONDS = 0.5
bind_datagram_socket: SocketFactory = functools.partial(bind_socket, datagram=True)
# Pools sweep their idle connections every this many ticks.
_POOL_SWEEP_TICKS = 10
# How long a span exporter that is no longer used (or the proxy closing) may take to send
# the spans it holds.
SPAN_FLUSH_SECONDS = 1.0


class Proxy:
    def __init__(
        self,
        *,
        socket_factory: SocketFactory = bind_socket,
        datagram_socket_factory: SocketFactory = bind_datagram_socket,
        tick_seconds: float = TICK_SECONDS,
    ) -> None:
        self.loop = asyncio.get_running_loop()
        self.socket_factory = socket_factory
        self.datagram_socket_factory = datagram_socket_factory
        self.tick_seconds = tick_seconds
        self.clock = Clock(self.loop.time())
        self.stats = ProxyStats()
        self.batch = WriteBatch()
        self.pools = UpstreamPools(self.loop, self.batch, self.clock)
        self.config: RuntimeConfig = EMPTY_CONFIG
        self.listeners: dict[tuple[str, int], BoundListener] = {}
        self.udp_listeners: dict[tuple[str, int], UdpListener] = {}
        self._draining: list[BoundListener] = []
        self._access_logs: dict[str, AccessLog] = {}
        self._tls_contexts: dict[str, ssl.SSLContext] = {}
        self._span_exporters: dict[ExportTarget, SpanExporter] = {}
        self._retiring_exporters: set[asyncio.Task[None]] = set()
        self._ticks = 0
        self._ticker: asyncio.TimerHandle | None = self.loop.call_later(tick_seconds, self._tick)

    async def apply(self, config: RuntimeConfig) -> None:
        """Swap to ``config``. Raises ``InvalidConfig`` (TLS material) or ``ListenerBindError``
        before anything changes for the listener concerned."""
        balancers = {name: ClusterBalancer(c, self.pools) for name, c in config.clusters.items()}
        contexts: dict[str, ssl.SSLContext] = {}
        export_targets: set[ExportTarget] = set()
        planned = {
            (lc.host, lc.port): (
                lc,
                self._chains(lc, config, balancers, contexts, export_targets),
                self._tcp_chains(lc, config, balancers, contexts),
            )
            for lc in config.listeners.values()
            if lc.udp is None
        }
        for key, bound in list(self.listeners.items()):
            plan = planned.get(key)
            if (
                plan is None
                or bound.config.is_tls != plan[0].is_tls
                or bound.config.carries_streams != plan[0].carries_streams
                # Set on the listening socket and its base TLS context: only a rebind changes them.
                or bound.config.connection != plan[0].connection
                or _base_tls_params(bound.config) != _base_tls_params(plan[0])
            ):
                self._retire(self.listeners.pop(key))
        for key, (listener_config, chains, tcp_chains) in planned.items():
            existing = self.listeners.get(key)
            if existing is None:
                self.listeners[key] = await self._bind(listener_config, chains, tcp_chains, config)
            else:
                existing.update(listener_config, chains, tcp_chains)
        self._apply_udp(config, balancers)
        self._tls_contexts = contexts
        self._retire_exporters(export_targets)
        self.pools.retire_all_but(
            (c.name, e.host, e.port) for c in config.clusters.values() for e in c.endpoints
        )
        self.config = config

    def _chains(
        self,
        listener: ListenerConfig,
        config: RuntimeConfig,
        balancers: Mapping[str, ClusterBalancer],
        contexts: dict[str, ssl.SSLContext],
        export_targets: set[ExportTarget],
    ) -> Chains:
        chains = []
        for chain in listener.filter_chains:
            settings = chain.http
            access_log = None
            if settings.access_logs:
                target = settings.access_logs[0]
                access_log = self._access_logs.get(target)
                if access_log is None:
                    access_log = self._access_logs[target] = AccessLog(target)
            spans = None
            if settings.tracing is not None:
                spans = self._span_exporter(settings.tracing.export, balancers, export_targets)
            http = HttpChain(
                settings=settings,
                routes=config.route_tables.get(settings.route_config),
                clusters=balancers,
                access_log=access_log,
                spans=spans,
                scheme=b"https" if chain.tls is not None else b"http",
            )
            context = self._tls_context(chain.name, chain.tls, config, contexts, http=True)
            chains.append((chain, http, context))
        return tuple(chains)

    def _span_exporter(
        self,
        target: ExportTarget,
        balancers: Mapping[str, ClusterBalancer],
        used: set[ExportTarget],
    ) -> SpanExporter:
        """The worker's exporter for ``target``, kept across configs so queued spans stay.
        Kept from its creation, so that a config that fails to apply leaves none running
        unseen."""
        exporter = self._span_exporters.get(target)
        if exporter is None:
            # Here, not at the top: it loads the OTLP messages, which only tracing needs.
            from dataplane.span_export import SpanExporter

            exporter = self._span_exporters[target] = SpanExporter(target, self.stats)
        exporter.bind(balancers)
        used.add(target)
        return exporter

    def _retire_exporters(self, used: set[ExportTarget]) -> None:
        """Exporters the applied config does not use send what they hold, then stop."""
        for target in [t for t in self._span_exporters if t not in used]:
            exporter = self._span_exporters.pop(target)
            task = self.loop.create_task(exporter.close(SPAN_FLUSH_SECONDS))
            self._retiring_exporters.add(task)
            task.add_done_callback(self._retiring_exporters.discard)

    def _tcp_chains(
        self,
        listener: ListenerConfig,
        config: RuntimeConfig,
        balancers: Mapping[str, ClusterBalancer],
        contexts: dict[str, ssl.SSLContext],
    ) -> TcpChains:
        return tuple(
            TcpChain(
                chain,
                balancers,
                self._tls_context(chain.name, chain.tls, config, contexts, http=False),
            )
            for chain in listener.tcp_chains
        )

    def _tls_context(
        self,
        chain_name: str,
        tls: DownstreamTls | None,
        config: RuntimeConfig,
        contexts: dict[str, ssl.SSLContext],
        *,
        http: bool,
    ) -> ssl.SSLContext | None:
        if tls is None:
            return None
        pairs = self._pairs(chain_name, tls, config)
        check = client_check(tls, config)
        key = fingerprint(pairs, tls.alpn, http=http, client_check=check, params=tls.params)
        context = contexts.get(key) or self._tls_contexts.get(key)
        if context is None:
            context = server_context(
                pairs, tls.alpn, http=http, client_check=check, params=tls.params
            )
        contexts[key] = context
        return context

    def _apply_udp(self, config: RuntimeConfig, balancers: Mapping[str, ClusterBalancer]) -> None:
        """UDP listeners: bound, updated or closed (a datagram socket has nothing to drain)."""
        planned = {(lc.host, lc.port): lc for lc in config.listeners.values() if lc.udp is not None}
        for key in [k for k in self.udp_listeners if k not in planned]:
            self.udp_listeners.pop(key).close()
        for key, listener_config in planned.items():
            assert listener_config.udp is not None
            balancer = balancers.get(listener_config.udp.cluster)
            existing = self.udp_listeners.get(key)
            if existing is not None:
                existing.update(listener_config, balancer)
                continue
            try:
                sock = self.datagram_socket_factory(listener_config.host, listener_config.port)
            except OSError as exc:
                raise ListenerBindError(
                    f"Listener {listener_config.name!r}: cannot bind UDP "
                    f"{listener_config.host}:{listener_config.port}: {exc}"
                ) from exc
            udp = UdpListener(
                listener_config, balancer, loop=self.loop, clock=self.clock, stats=self.stats
            )
            udp.start(sock)
            self.udp_listeners[key] = udp

    async def _bind(
        self, listener: ListenerConfig, chains: Chains, tcp_chains: TcpChains, config: RuntimeConfig
    ) -> BoundListener:
        bound = BoundListener(
            listener,
            chains,
            loop=self.loop,
            clock=self.clock,
            stats=self.stats,
            batch=self.batch,
            tcp_chains=tcp_chains,
        )
        try:
            sock = self.socket_factory(listener.host, listener.port)
        except OSError as exc:
            raise ListenerBindError(
                f"Listener {listener.name!r}: cannot bind {listener.host}:{listener.port}: {exc}"
            ) from exc
        base = None
        first = listener.filter_chains[0] if listener.filter_chains else None
        if first is not None and first.tls is not None:
            # A context of its own: the SNI callback set on it belongs to this listener.
            base = server_context(
                self._pairs(first.name, first.tls, config),
                first.tls.alpn,
                client_check=client_check(first.tls, config),
                # OpenSSL keeps the version bounds of the context a handshake started with.
                params=first.tls.params,
            )
        await bound.start(sock, base)
        return bound

    @staticmethod
    def _pairs(
        chain_name: str, tls: DownstreamTls, config: RuntimeConfig
    ) -> list[tuple[bytes, bytes]]:
        pairs = list(tls.inline_certificates)
        for name in tls.secret_names:
            certificate = config.certificates.get(name)
            if certificate is None:
                raise InvalidConfig(f"filter chain {chain_name!r}: secret {name!r} is missing")
            pairs.append((certificate.certificate_chain, certificate.private_key))
        return pairs

    def _retire(self, bound: BoundListener) -> None:
        timeout = max(
            (chain.http.drain_timeout for chain in bound.config.filter_chains), default=5.0
        )
        bound.drain(timeout)
        self._draining.append(bound)

    def address_of(self, listener_name: str) -> tuple[str, int] | None:
        """Where a listener is bound (useful with port 0)."""
        for bound in self.listeners.values():
            if bound.config.name == listener_name:
                return bound.address
        for udp in self.udp_listeners.values():
            if udp.config.name == listener_name:
                return udp.address
        return None

    def _tick(self) -> None:
        now = self.loop.time()
        self.clock.now = now
        DATE.refresh()
        for bound in (*self.listeners.values(), *self._draining):
            bound.check_timeouts(now)
        for udp in self.udp_listeners.values():
            udp.check_timeouts(now)
        self._draining = [b for b in self._draining if b.connections]
        self._ticks += 1
        if self._ticks % _POOL_SWEEP_TICKS == 0:
            self.pools.sweep()
        self._ticker = self.loop.call_later(self.tick_seconds, self._tick)

    async def close(self, drain_seconds: float = 0.0) -> None:
        """Stop accepting everywhere; wait up to ``drain_seconds`` for in-flight exchanges."""
        for bound in list(self.listeners.values()):
            self._retire(bound)
        self.listeners.clear()
        for udp in self.udp_listeners.values():
            udp.close()
        self.udp_listeners.clear()
        deadline = self.loop.time() + drain_seconds
        while any(b.connections for b in self._draining) and self.loop.time() < deadline:
            await asyncio.sleep(0.01)
        for bound in self._draining:
            for connection in list(bound.connections):
                connection.abort()
            if bound.server is not None:
                await bound.server.wait_closed()
        self._draining.clear()
        self.pools.retire_all_but(())
        if self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None
        for access_log in self._access_logs.values():
            access_log.close()
        for exporter in self._span_exporters.values():
            await exporter.close(SPAN_FLUSH_SECONDS)
        self._span_exporters = {}
        for task in list(self._retiring_exporters):
            await task


def _base_tls_params(listener: ListenerConfig) -> TlsParams | None:
    first = listener.filter_chains[0] if listener.filter_chains else None
    return first.tls.params if first is not None and first.tls is not None else None


def client_check(tls: DownstreamTls, config: RuntimeConfig) -> ClientCheck | None:
    """The client-certificate validation of a chain (see ``dataplane.tls`` for the modes)."""
    validation = tls.client_validation
    if validation is None:
        return None
    ca_pem = validation.ca_pem
    if validation.ca_secret is not None:
        ca_pem = config.trust_bundles.get(validation.ca_secret)
    if ca_pem is None:
        raise InvalidConfig(f"client validation: CA bundle {validation.ca_secret!r} is missing")
    if tls.require_client_certificate:
        mode = ssl.CERT_REQUIRED
    elif validation.accept_untrusted:
        mode = ssl.CERT_NONE
    else:
        mode = ssl.CERT_OPTIONAL
    return ClientCheck(ca_pem, mode)
