"""Assemble one Gateway's IR from its listeners and the routes attached to them.

One IR listener per port. Plain HTTP listeners on a port share one filter chain and one
RouteConfiguration; HTTPS listeners get a filter chain (by SNI) and a RouteConfiguration each.
Within a RouteConfiguration there is one virtual host per hostname, holding every route that
serves that hostname, sorted by Gateway API precedence. Listener isolation: a hostname's
routes come only from the most specific listener on the port that covers it."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from translator import ir, naming
from translator.gatewayapi.gateway import GatewayState
from translator.gatewayapi.hostname import covers, specificity
from translator.gatewayapi.httproute import TranslatedRoute, routes_for_listener
from translator.gatewayapi.listener import GatewayListener

_SCHEME = {"HTTP": "http", "HTTPS": "https"}


class RouteCache:
    """IR routes per (route, port, scheme): a route attached to many listeners is built once."""

    def __init__(self, translated: Mapping[int, TranslatedRoute]) -> None:
        self._translated = translated
        self._cache: dict[tuple[int, int, str], list[tuple[tuple[Any, ...], ir.Route]]] = {}

    def routes(self, route: Any, port: int, scheme: str) -> list[tuple[tuple[Any, ...], ir.Route]]:
        key = (id(route), port, scheme)
        found = self._cache.get(key)
        if found is None:
            found = routes_for_listener(self._translated[id(route)], port, scheme)
            self._cache[key] = found
        return found


def build_gateway_ir(
    state: GatewayState, cache: RouteCache, clusters: Mapping[str, ir.Cluster]
) -> ir.GatewayIR:
    meta = state.gateway.metadata
    by_port: dict[int, list[GatewayListener]] = defaultdict(list)
    for listener in state.listeners:
        if listener.programmable:
            by_port[listener.port].append(listener)
    listeners: list[ir.Listener] = []
    route_configs: list[ir.RouteConfig] = []
    secrets: dict[str, ir.TlsCertificate] = {}
    for port in sorted(by_port):
        on_port = by_port[port]
        protocol = on_port[0].protocol
        chains: list[ir.HttpFilterChain] = []
        if protocol == "HTTP":
            name = naming.http_route_config(meta.namespace, meta.name, port)
            route_configs.append(
                ir.RouteConfig(name, _virtual_hosts(name, on_port, on_port, cache))
            )
            chains.append(
                ir.HttpFilterChain(naming.filter_chain(meta.namespace, meta.name, port), (), name)
            )
        else:
            for listener in on_port:
                name = naming.https_route_config(meta.namespace, meta.name, port, listener.name)
                route_configs.append(
                    ir.RouteConfig(name, _virtual_hosts(name, [listener], on_port, cache))
                )
                for certificate in listener.certificates:
                    secrets[certificate.name] = certificate
                tls = ir.DownstreamTls(tuple(c.name for c in listener.certificates))
                server_names = (listener.hostname,) if listener.hostname else ()
                chain_name = naming.filter_chain(meta.namespace, meta.name, port, listener.name)
                chains.append(ir.HttpFilterChain(chain_name, server_names, name, tls))
        listeners.append(
            ir.Listener(
                name=naming.listener(meta.namespace, meta.name, port),
                address=state.address,
                port=port,
                protocol=ir.ListenerProtocol(protocol),
                filter_chains=tuple(chains),
            )
        )
    used = _used_clusters(route_configs)
    return ir.GatewayIR(
        namespace=meta.namespace,
        name=meta.name,
        listeners=tuple(listeners),
        route_configs=tuple(sorted(route_configs, key=lambda rc: rc.name)),
        clusters=tuple(clusters[name] for name in sorted(used)),
        secrets=tuple(secrets[name] for name in sorted(secrets)),
    )


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
                if _most_specific(on_port, hostname) is not listener:
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


def _most_specific(listeners: Sequence[GatewayListener], hostname: str) -> GatewayListener | None:
    best: GatewayListener | None = None
    for listener in listeners:
        if covers(listener.hostname, hostname) and (
            best is None or specificity(listener.hostname) > specificity(best.hostname)
        ):
            best = listener
    return best


def _used_clusters(route_configs: Sequence[ir.RouteConfig]) -> set[str]:
    used: set[str] = set()
    for route_config in route_configs:
        for vhost in route_config.virtual_hosts:
            for route in vhost.routes:
                action = route.action
                if isinstance(action, ir.ForwardAction):
                    used.update(b.cluster for b in action.backends if b.cluster is not None)
                    used.update(m.cluster for m in action.mirrors)
    return used
