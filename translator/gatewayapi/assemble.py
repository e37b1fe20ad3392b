"""Assemble one Gateway's IR from its listeners and the routes attached to them.

One IR listener per port. Plain HTTP listeners on a port share one filter chain and one
RouteConfiguration; HTTPS listeners get a filter chain (by SNI) and a RouteConfiguration each.
Within a RouteConfiguration there is one virtual host per hostname, holding every route that
serves that hostname, sorted by Gateway API precedence. Listener isolation: a hostname's
routes come only from the most specific listener on the port that covers it. ``Feed`` says,
per listener, which route configuration its routes go to; the virtual hosts themselves are
kept in a ``HostTable`` per route configuration, updated as routes come and go."""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from translator import ir, naming
from translator.gatewayapi.backend import Backends
from translator.gatewayapi.gateway import GatewayState
from translator.gatewayapi.hosttable import HostTable
from translator.gatewayapi.l4route import TranslatedL4Route
from translator.gatewayapi.listener import Attachment, GatewayListener, most_specific_listener

_SCHEME = {"HTTP": "http", "HTTPS": "https"}


@dataclass(frozen=True, slots=True)
class Feed:
    """Where the routes attached to one listener go: the route configuration (by name) of the
    listener's port or of the listener itself, and the listeners on that port, among which
    the most specific one takes each hostname (listener isolation)."""

    route_config: str
    port: int
    scheme: str
    on_port: tuple[GatewayListener, ...]

    def takes(self, listener: GatewayListener, hostname: str) -> bool:
        return most_specific_listener(self.on_port, hostname) is listener


def listener_feeds(state: GatewayState) -> dict[int, Feed]:
    """By index in ``state.listeners``: the route configuration each programmable HTTP or
    HTTPS listener feeds (the one ``build_gateway_ir`` builds for it)."""
    meta = state.gateway.metadata
    position = {id(listener): index for index, listener in enumerate(state.listeners)}
    feeds: dict[int, Feed] = {}
    for (port, udp), on_port in _by_port(state).items():
        protocol = on_port[0].protocol
        if udp or protocol == "TCP":
            continue
        shared = tuple(on_port)
        for listener in on_port:
            if protocol == "HTTP":
                name = naming.http_route_config(meta.namespace, meta.name, port)
            elif listener.protocol == "HTTPS":
                name = naming.https_route_config(meta.namespace, meta.name, port, listener.section)
            else:
                continue  # a TLS listener sharing the port: its routes are L4
            feeds[position[id(listener)]] = Feed(name, port, _SCHEME[listener.protocol], shared)
    return feeds


def _by_port(state: GatewayState) -> dict[tuple[int, bool], list[GatewayListener]]:
    """Programmable listeners by (port, is UDP), ports in order."""
    by_port: dict[tuple[int, bool], list[GatewayListener]] = defaultdict(list)
    for listener in state.listeners:
        if listener.programmable:
            by_port[(listener.port, listener.protocol == "UDP")].append(listener)
    return {key: by_port[key] for key in sorted(by_port)}


def build_gateway_ir(
    state: GatewayState,
    tables: Mapping[str, HostTable],
    l4_routes: Mapping[int, TranslatedL4Route],
    backends: Backends,
) -> ir.GatewayIR:
    """``tables``: the virtual hosts of each route configuration, by name (see
    ``listener_feeds``); a route configuration without a table has no virtual hosts."""
    assembler = _Assembler(state, tables, l4_routes)
    for (port, udp), on_port in _by_port(state).items():
        assembler.add_port(port, udp, on_port)
    meta = state.gateway.metadata
    used = _used_clusters(assembler.tables_used, assembler.listeners)
    clusters = [assembler.upstream(backends.clusters[name], backends) for name in sorted(used)]
    return ir.GatewayIR(
        namespace=meta.namespace,
        name=meta.name,
        listeners=tuple(assembler.listeners),
        route_configs=tuple(sorted(assembler.route_configs, key=lambda rc: rc.name)),
        clusters=tuple(clusters),
        secrets=tuple(assembler.secrets[name] for name in sorted(assembler.secrets)),
    )


class _Assembler:
    """Builds one Gateway's IR listeners port by port, collecting route configs and secrets."""

    def __init__(
        self,
        state: GatewayState,
        tables: Mapping[str, HostTable],
        l4_routes: Mapping[int, TranslatedL4Route],
    ) -> None:
        self.state = state
        self.meta = state.gateway.metadata
        self.tables = tables
        self.l4_routes = l4_routes
        self.listeners: list[ir.Listener] = []
        self.route_configs: list[ir.RouteConfig] = []
        self.tables_used: list[HostTable] = []
        self.secrets: dict[str, ir.Secret] = {}

    def upstream(self, cluster: ir.Cluster, backends: Backends) -> ir.Cluster:
        """A cluster as this Gateway uses it: TLS trust bundles go along, and the Gateway's
        own client certificate (GEP-3155) is presented to backends that speak TLS."""
        if cluster.tls is None:
            return cluster
        if cluster.tls.ca_secret is not None:
            self.secrets[cluster.tls.ca_secret] = backends.ca_bundles[cluster.tls.ca_secret]
        certificate = self.state.backend_client_certificate
        if certificate is None:
            return cluster
        self.secrets[certificate.name] = certificate
        tls = dataclasses.replace(cluster.tls, client_certificate_secret=certificate.name)
        return dataclasses.replace(cluster, tls=tls)

    def add_port(self, port: int, udp: bool, on_port: list[GatewayListener]) -> None:
        protocol = on_port[0].protocol
        chains: list[ir.FilterChain]
        if udp:
            chains = self._datagram_chains(port, on_port[0])
        elif protocol == "HTTP":
            chains = [self._http_chain(port)]
        elif protocol == "TCP":
            chains = self._stream_chains(port, on_port[0])
        else:
            chains = self._sni_chains(port, on_port)
        if not chains:
            return  # nothing to serve: no socket
        protocols = {listener.protocol for listener in on_port}
        self.listeners.append(
            ir.Listener(
                name=naming.listener(
                    self.meta.namespace, self.meta.name, port, "udp" if udp else ""
                ),
                address=self.state.address,
                port=port,
                protocol=ir.ListenerProtocol("HTTPS" if "HTTPS" in protocols else protocol),
                filter_chains=tuple(chains),
            )
        )

    def _table(self, name: str) -> HostTable:
        table = self.tables.get(name) or HostTable(name)
        self.tables_used.append(table)
        return table

    def _http_chain(self, port: int) -> ir.HttpFilterChain:
        name = naming.http_route_config(self.meta.namespace, self.meta.name, port)
        table = self._table(name)
        self.route_configs.append(ir.RouteConfig(name, table.virtual_hosts()))
        chain_name = naming.filter_chain(self.meta.namespace, self.meta.name, port)
        return ir.HttpFilterChain(
            chain_name,
            (),
            name,
            cors=table.uses_cors(),
            ext_auths=table.ext_auths(),
            session_kinds=table.session_kinds(),
        )

    def _sni_chains(self, port: int, on_port: list[GatewayListener]) -> list[ir.FilterChain]:
        """HTTPS and TLS listeners sharing a port: a chain per HTTPS listener, and per TLS
        route; each SNI name goes to the first chain that claims it."""
        chains: list[ir.FilterChain] = []
        claimed: set[str] = set()
        for listener in on_port:
            if listener.protocol == "HTTPS":
                chains.append(self._https_chain(port, listener, on_port))
                claimed.add(listener.hostname or "*")
        for listener in on_port:
            if listener.protocol == "TLS":
                chains.extend(self._tls_route_chains(port, listener, on_port, claimed))
        return chains

    def _https_chain(
        self, port: int, listener: GatewayListener, on_port: list[GatewayListener]
    ) -> ir.HttpFilterChain:
        ns, gw = self.meta.namespace, self.meta.name
        name = naming.https_route_config(ns, gw, port, listener.section)
        table = self._table(name)
        hosts = table.virtual_hosts() + _misdirected_hosts(name, listener, on_port, table)
        self.route_configs.append(ir.RouteConfig(name, hosts))
        server_names = (listener.hostname,) if listener.hostname else ()
        chain_name = naming.filter_chain(ns, gw, port, listener.section)
        tls = self._terminate(listener)
        return ir.HttpFilterChain(
            chain_name,
            server_names,
            name,
            tls,
            table.uses_cors(),
            table.ext_auths(),
            table.session_kinds(),
        )

    def _terminate(
        self, listener: GatewayListener, alpn: tuple[str, ...] = ("h2", "http/1.1")
    ) -> ir.DownstreamTls:
        for certificate in listener.certificates:
            self.secrets[certificate.name] = certificate
        if listener.client_ca_bundle is not None:
            self.secrets[listener.client_ca_bundle.name] = listener.client_ca_bundle
        names = tuple(c.name for c in listener.certificates)
        return ir.DownstreamTls(names, alpn, listener.client_validation)

    def _tls_route_chains(
        self,
        port: int,
        listener: GatewayListener,
        on_port: list[GatewayListener],
        claimed: set[str],
    ) -> list[ir.FilterChain]:
        chains: list[ir.FilterChain] = []
        tls = self._terminate(listener, ()) if listener.tls_mode == "Terminate" else None
        for attachment in _oldest_first(listener.attachments.values()):
            names = [
                h
                for h in attachment.hostnames
                if h not in claimed and most_specific_listener(on_port, h) is listener
            ]
            if not names:
                continue
            claimed.update(names)
            route = self.l4_routes[id(attachment.route)]
            meta = attachment.route.metadata
            chain_name = naming.l4_filter_chain(
                self.meta.namespace,
                self.meta.name,
                port,
                listener.section,
                f"{meta.namespace}/{meta.name}",
            )
            server_names = tuple(sorted(h for h in names if h != "*"))
            if "*" in names:
                server_names = ()
            chains.append(
                ir.TcpFilterChain(chain_name, server_names, route.backends, tls, route.origin)
            )
        return chains

    def _stream_chains(self, port: int, listener: GatewayListener) -> list[ir.FilterChain]:
        routes = [self.l4_routes[id(a.route)] for a in listener.attachments.values()]
        if not routes:
            return []
        chain_name = naming.filter_chain(
            self.meta.namespace, self.meta.name, port, listener.section
        )
        return [ir.TcpFilterChain(chain_name, (), routes[0].backends, None, routes[0].origin)]

    def _datagram_chains(self, port: int, listener: GatewayListener) -> list[ir.FilterChain]:
        routes = [self.l4_routes[id(a.route)] for a in listener.attachments.values()]
        if not routes:
            return []
        chain_name = naming.filter_chain(
            self.meta.namespace, self.meta.name, port, listener.section
        )
        return [ir.UdpFilterChain(chain_name, routes[0].backends, origin=routes[0].origin)]


MISDIRECTED = ir.DirectResponseAction(
    421, "misdirected request: this connection's TLS name serves another listener\n"
)


def _misdirected_hosts(
    route_config: str,
    listener: GatewayListener,
    on_port: Sequence[GatewayListener],
    own: HostTable,
) -> tuple[ir.VirtualHost, ...]:
    """GEP-3567: a request whose authority belongs to another HTTPS listener on this port
    (HTTP/2 coalescing reuses a connection whose SNI chose this chain) answers 421, so the
    client retries on a connection of its own."""
    others = sorted(
        {
            other.hostname
            for other in on_port
            if other is not listener
            and other.protocol == "HTTPS"
            and other.hostname
            and not own.has_host(other.hostname)
            and other.programmable
        }
    )
    catch_all = ir.Route("misdirected", ir.RouteMatch(), MISDIRECTED)
    return tuple(
        ir.VirtualHost(naming.virtual_host(route_config, hostname), (hostname,), (catch_all,))
        for hostname in others
    )


def _oldest_first(attachments: Iterable[Attachment]) -> list[Attachment]:
    def age(attachment: Attachment) -> tuple[str, str, str]:
        meta = attachment.route.metadata
        return (meta.creation_timestamp or "", meta.namespace, meta.name)

    return sorted(attachments, key=age)


def _used_clusters(tables: Sequence[HostTable], listeners: Sequence[ir.Listener]) -> set[str]:
    used: set[str] = set()
    for listener in listeners:
        for chain in listener.filter_chains:
            if isinstance(chain, ir.TcpFilterChain | ir.UdpFilterChain):
                used.update(b.cluster for b in chain.backends if b.cluster is not None)
    for table in tables:
        used.update(table.clusters())
    return used
