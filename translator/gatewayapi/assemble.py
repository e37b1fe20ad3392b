"""Assemble one Gateway's IR from its listeners and the routes attached to them.

One IR listener per port. Plain HTTP listeners on a port share one filter chain and one
RouteConfiguration; HTTPS listeners get a filter chain (by SNI) and a RouteConfiguration each.
Within a RouteConfiguration there is one virtual host per hostname, holding every route that
serves that hostname, sorted by Gateway API precedence. Listener isolation: a hostname's
routes come only from the most specific listener on the port that covers it."""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from translator import ir, naming
from translator.gatewayapi.backend import Backends
from translator.gatewayapi.extauth import ext_auths_of
from translator.gatewayapi.gateway import GatewayState
from translator.gatewayapi.httproute import TranslatedRoute, routes_for_listener
from translator.gatewayapi.l4route import TranslatedL4Route
from translator.gatewayapi.listener import Attachment, GatewayListener, most_specific_listener
from translator.gatewayapi.session import session_kinds_of
from translator.memo import IdentityMemo

_SCHEME = {"HTTP": "http", "HTTPS": "https"}


class RouteCache:
    """IR routes per (route, port, scheme): a route attached to many listeners is built once,
    and with a memo an unchanged route's IR routes are those of the run before."""

    def __init__(
        self,
        translated: Mapping[int, TranslatedRoute],
        memo: IdentityMemo[list[tuple[tuple[Any, ...], ir.Route]]] | None = None,
    ) -> None:
        self._translated = translated
        self._memo = memo if memo is not None else IdentityMemo()

    def routes(self, route: Any, port: int, scheme: str) -> list[tuple[tuple[Any, ...], ir.Route]]:
        translated = self._translated[id(route)]
        found = self._memo.get(translated, (port, scheme))
        if found is None:
            found = routes_for_listener(translated, port, scheme)
            self._memo.put(translated, found, (port, scheme))
        return found


def build_gateway_ir(
    state: GatewayState,
    cache: RouteCache,
    l4_routes: Mapping[int, TranslatedL4Route],
    backends: Backends,
) -> ir.GatewayIR:
    assembler = _Assembler(state, cache, l4_routes)
    by_port: dict[tuple[int, bool], list[GatewayListener]] = defaultdict(list)
    for listener in state.listeners:
        if listener.programmable:
            by_port[(listener.port, listener.protocol == "UDP")].append(listener)
    for port, udp in sorted(by_port):
        assembler.add_port(port, udp, by_port[(port, udp)])
    meta = state.gateway.metadata
    used = _used_clusters(assembler.route_configs, assembler.listeners)
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
        self, state: GatewayState, cache: RouteCache, l4_routes: Mapping[int, TranslatedL4Route]
    ) -> None:
        self.state = state
        self.meta = state.gateway.metadata
        self.cache = cache
        self.l4_routes = l4_routes
        self.listeners: list[ir.Listener] = []
        self.route_configs: list[ir.RouteConfig] = []
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
            chains = [self._http_chain(port, on_port)]
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

    def _http_chain(self, port: int, on_port: list[GatewayListener]) -> ir.HttpFilterChain:
        name = naming.http_route_config(self.meta.namespace, self.meta.name, port)
        config = ir.RouteConfig(name, _virtual_hosts(name, on_port, on_port, self.cache))
        self.route_configs.append(config)
        chain_name = naming.filter_chain(self.meta.namespace, self.meta.name, port)
        return ir.HttpFilterChain(
            chain_name,
            (),
            name,
            cors=_uses_cors(config),
            ext_auths=ext_auths_of(config),
            session_kinds=session_kinds_of(config),
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
        hosts = _virtual_hosts(name, [listener], on_port, self.cache)
        config = ir.RouteConfig(name, hosts + _misdirected_hosts(name, listener, on_port, hosts))
        self.route_configs.append(config)
        server_names = (listener.hostname,) if listener.hostname else ()
        chain_name = naming.filter_chain(ns, gw, port, listener.section)
        tls = self._terminate(listener)
        return ir.HttpFilterChain(
            chain_name,
            server_names,
            name,
            tls,
            _uses_cors(config),
            ext_auths_of(config),
            session_kinds_of(config),
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


def _uses_cors(config: ir.RouteConfig) -> bool:
    return any(route.cors is not None for host in config.virtual_hosts for route in host.routes)


MISDIRECTED = ir.DirectResponseAction(
    421, "misdirected request: this connection's TLS name serves another listener\n"
)


def _misdirected_hosts(
    route_config: str,
    listener: GatewayListener,
    on_port: Sequence[GatewayListener],
    own: tuple[ir.VirtualHost, ...],
) -> tuple[ir.VirtualHost, ...]:
    """GEP-3567: a request whose authority belongs to another HTTPS listener on this port
    (HTTP/2 coalescing reuses a connection whose SNI chose this chain) answers 421, so the
    client retries on a connection of its own."""
    taken = {domain for host in own for domain in host.domains}
    others = sorted(
        {
            other.hostname
            for other in on_port
            if other is not listener
            and other.protocol == "HTTPS"
            and other.hostname
            and other.hostname not in taken
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


def _virtual_hosts(
    route_config: str,
    listeners: Sequence[GatewayListener],
    on_port: Sequence[GatewayListener],
    cache: RouteCache,
) -> tuple[ir.VirtualHost, ...]:
    by_host: dict[str, list[tuple[tuple[Any, ...], ir.Route]]] = defaultdict(list)
    for listener in listeners:
        scheme = _SCHEME[listener.protocol]
        for attachment in listener.attachments.values():
            for hostname in attachment.hostnames:
                if most_specific_listener(on_port, hostname) is not listener:
                    continue
                by_host[hostname].extend(cache.routes(attachment.route, listener.port, scheme))
    return tuple(
        ir.VirtualHost(
            name=naming.virtual_host(route_config, hostname),
            domains=(hostname,),
            routes=tuple(route for _, route in sorted(by_host[hostname], key=lambda item: item[0])),
        )
        for hostname in sorted(by_host)
    )


def _used_clusters(
    route_configs: Sequence[ir.RouteConfig], listeners: Sequence[ir.Listener]
) -> set[str]:
    used: set[str] = set()
    for listener in listeners:
        for chain in listener.filter_chains:
            if isinstance(chain, ir.TcpFilterChain | ir.UdpFilterChain):
                used.update(b.cluster for b in chain.backends if b.cluster is not None)
    for route_config in route_configs:
        for vhost in route_config.virtual_hosts:
            for route in vhost.routes:
                action = route.action
                if isinstance(action, ir.ForwardAction):
                    used.update(b.cluster for b in action.backends if b.cluster is not None)
                    used.update(m.cluster for m in action.mirrors)
                if route.ext_auth is not None:
                    used.add(route.ext_auth.cluster)
    return used
