"""Walk one Gateway's IR and give each route, cluster and listener its effective policy.

A route's path is its Gateway, the ListenerSet and listener serving its virtual host, the
route and the rule; a cluster's is its Service and Service port. The IR is rebuilt with
``dataclasses.replace`` only where a policy applies, so Gateways without policies keep their
IR objects as they were."""

from __future__ import annotations

import dataclasses
from typing import Any

from translator import ir, naming
from translator.gatewayapi.gateway import GatewayState
from translator.gatewayapi.listener import GatewayListener, most_specific_listener
from translator.gatewayapi.policy.merge import Merger
from translator.gatewayapi.policy.targets import (
    AttachKey,
    Level,
    gateway_key,
    listener_key,
    listener_set_key,
    route_key,
    rule_key,
)
from translator.gatewayapi.policy.traffic import fold_traffic_policy, with_chain_filters
from translator.gatewayapi.policy.traffic_notes import record_traffic_notes
from translator.ir.policy import BackendPolicy, FrontendPolicy, TrafficPolicy
from translator.model import GRPCRoute, HTTPRoute, Service
from translator.resources import ResourceSet

_ROUTE_KINDS = {"HTTPRoute": HTTPRoute, "GRPCRoute": GRPCRoute}


class Assigner:
    def __init__(self, resources: ResourceSet, merger: Merger) -> None:
        self.resources = resources
        self.merger = merger
        self._rules: dict[tuple[str, str, str], dict[str, int]] = {}
        self._service_clusters = self._service_cluster_prefixes()

    def assign(self, gateway: ir.GatewayIR, state: GatewayState) -> ir.GatewayIR:
        gw = (gateway.namespace, gateway.name)
        by_config = _listeners_by_route_config(state)
        configs = tuple(
            self._route_config(gw, rc, by_config.get(rc.name, [])) for rc in gateway.route_configs
        )
        clusters = tuple(self._cluster(gw, cluster) for cluster in gateway.clusters)
        frontend = self.merger.fields(gw, "frontend", (gateway_key(*gw),))
        by_name = {config.name: config for config in configs}
        listeners = tuple(with_chain_filters(lst, by_name) for lst in gateway.listeners)
        if frontend:
            policy = FrontendPolicy(frontend)
            listeners = tuple(dataclasses.replace(lst, frontend=policy) for lst in listeners)
        return dataclasses.replace(
            gateway, route_configs=configs, clusters=clusters, listeners=listeners
        )

    def _route_config(
        self, gw: tuple[str, str], config: ir.RouteConfig, candidates: list[GatewayListener]
    ) -> ir.RouteConfig:
        hosts = []
        for host in config.virtual_hosts:
            listener = most_specific_listener(candidates, host.domains[0])
            if listener is None:
                hosts.append(host)
                continue
            routes = tuple(self._route(gw, listener, route) for route in host.routes)
            hosts.append(dataclasses.replace(host, routes=routes))
        return dataclasses.replace(config, virtual_hosts=tuple(hosts))

    def _route(self, gw: tuple[str, str], listener: GatewayListener, route: ir.Route) -> ir.Route:
        keys = self._route_keys(gw, listener, route)
        if keys is None:
            return route
        merger = self.merger
        traffic = merger.fields(gw, "traffic", keys)
        authorization = merger.authorization(keys)
        merger.reached(gw, keys)
        backend = merger.fields(gw, "backend", keys, record=False)
        self._record_backends(gw, keys, route)
        if not (traffic or authorization or backend):
            return route  # the same object: incremental translation reuses its protos
        folded = fold_traffic_policy(
            dataclasses.replace(
                route,
                policy=TrafficPolicy(traffic, authorization) if traffic or authorization else None,
                backend_policy=BackendPolicy(backend) if backend else None,
            )
        )
        record_traffic_notes(merger, gw, keys, folded)
        return folded

    def _record_backends(
        self, gw: tuple[str, str], keys: tuple[AttachKey, ...], route: ir.Route
    ) -> None:
        """Statuses reflect what applies per backend: route-side and Service-side together."""
        action = route.action
        clusters = (
            [b.cluster for b in action.backends if b.cluster is not None]
            if isinstance(action, ir.ForwardAction)
            else []
        )
        if not clusters:
            self.merger.fields(gw, "backend", keys)
        for cluster in clusters:
            self.merger.fields(gw, "backend", keys + self._service_keys(gw, cluster))

    def _cluster(self, gw: tuple[str, str], cluster: ir.Cluster) -> ir.Cluster:
        keys = self._service_keys(gw, cluster.name)
        if not keys:
            return cluster
        fields = self.merger.fields(gw, "backend", keys, record=False)
        return dataclasses.replace(cluster, policy=BackendPolicy(fields)) if fields else cluster

    def _service_keys(self, gw: tuple[str, str], cluster: str) -> tuple[AttachKey, ...]:
        keys: list[AttachKey] = []
        for prefix, found in self._service_clusters:
            if cluster == prefix or cluster.startswith(prefix + "/"):
                keys.extend(found)
        for _, prepared in self.merger.candidates(keys):
            prepared.gateways.add(gw)
        return tuple(sorted(keys, key=lambda key: key[0]))

    def _service_cluster_prefixes(self) -> list[tuple[str, list[AttachKey]]]:
        """Cluster name prefixes of the Services and ports policies target."""
        prefixes: dict[str, list[AttachKey]] = {}
        for key in self.merger.index:
            if key[0] not in (Level.SERVICE, Level.SERVICE_PORT):
                continue
            service = self.resources.get(Service, key[1], key[2])
            ports = service.spec.ports if service is not None else ()
            for port in ports:
                if key[0] == Level.SERVICE or port.port == key[3]:
                    prefix = naming.service_cluster(key[1], key[2], port.port)
                    prefixes.setdefault(prefix, []).append(key)
        return sorted(prefixes.items())

    def _route_keys(
        self, gw: tuple[str, str], listener: GatewayListener, route: ir.Route
    ) -> tuple[AttachKey, ...] | None:
        kind, _, rest = route.origin.partition("/")
        ns, _, name = rest.partition("/")
        rule = self._rule_index(kind, ns, name).get(route.name)
        if rule is None:
            return None
        keys: list[AttachKey] = [gateway_key(*gw)]
        if not listener.owner.is_gateway:
            keys.append(listener_set_key(listener.owner.namespace, listener.owner.name))
        keys += [
            listener_key(gw, listener.section),
            route_key(kind, ns, name),
            rule_key(kind, ns, name, rule),
        ]
        return tuple(keys)

    def _rule_index(self, kind: str, ns: str, name: str) -> dict[str, int]:
        """IR route name -> rule index, for every rule and match of one route."""
        found = self._rules.get((kind, ns, name))
        if found is None:
            model = _ROUTE_KINDS.get(kind)
            route: Any = self.resources.get(model, ns, name) if model else None
            found = {}
            for index, rule in enumerate(route.spec.rules if route else ()):
                for match in range(len(rule.matches or ()) + 1):
                    found[naming.http_route_rule(ns, name, index, match, kind.lower())] = index
            self._rules[(kind, ns, name)] = found
        return found


def _listeners_by_route_config(state: GatewayState) -> dict[str, list[GatewayListener]]:
    meta = state.gateway.metadata
    found: dict[str, list[GatewayListener]] = {}
    for listener in state.listeners:
        if listener.protocol == "HTTP":
            name = naming.http_route_config(meta.namespace, meta.name, listener.port)
        elif listener.protocol == "HTTPS":
            name = naming.https_route_config(
                meta.namespace, meta.name, listener.port, listener.section
            )
        else:
            continue
        found.setdefault(name, []).append(listener)
    return found
