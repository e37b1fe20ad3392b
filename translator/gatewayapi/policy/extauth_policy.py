"""``traffic.extAuth`` into the IR: the policy's external authorization becomes the route's
``ext_auth``, the same setting the HTTPRoute ExternalAuth filter (GEP-1494) produces, so both
data planes enforce it with the ext_authz filter they already run.

A route's inline ExternalAuth filter is more specific than any policy: it wins, and the
policy's status names the routes where it did (``overridden``). The auth
service is a backendRef resolved like a route's (ReferenceGrants from the policy's
namespace); gRPC is spoken over HTTP/2. ``failureMode`` FailOpen lets requests through when
the service cannot be reached or errs (Envoy's ``failure_mode_allow``); FailClosed answers
403. A policy whose service cannot be used (missing, not permitted by a ReferenceGrant) has
the field dropped before merging (``drop_unresolved_ext_auth``) and its status says why.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any

from translator import ir, naming
from translator.gatewayapi.backend import BackendProblem, Backends
from translator.gatewayapi.extauth import ext_auths_of
from translator.gatewayapi.policy.targets import PreparedPolicy
from translator.gatewayapi.referencegrant import ReferenceFrom, ReferenceGrants
from translator.ir.policy import PolicyField
from translator.model.agentgateway import AGENTGATEWAY_GROUP
from translator.model.shared import BackendObjectReference
from translator.resources import ResourceSet

_POLICY_KIND = "AgentgatewayPolicy"


def apply_policy_ext_auth(
    gateway: ir.GatewayIR,
    resources: ResourceSet,
    overridden: dict[str, set[str]] | None = None,
) -> ir.GatewayIR:
    """``gateway`` with each route's policy ext_auth folded in, the auth services' clusters
    and each HTTP chain's ext_authz filters; the same object when no route takes one. Routes
    whose inline filter wins go into ``overridden`` (policy origin -> notes)."""
    builder = _Builder(resources, overridden if overridden is not None else {})
    configs = tuple(builder.route_config(config) for config in gateway.route_configs)
    if not builder.changed:
        return gateway
    by_name = {config.name: config for config in configs}
    known = {cluster.name for cluster in gateway.clusters}
    added = tuple(c for name, c in sorted(builder.clusters.items()) if name not in known)
    listeners = tuple(_listener(listener, by_name) for listener in gateway.listeners)
    return dataclasses.replace(
        gateway, route_configs=configs, listeners=listeners, clusters=gateway.clusters + added
    )


class _Builder:
    def __init__(self, resources: ResourceSet, overridden: dict[str, set[str]]) -> None:
        self.resources = resources
        self.overridden = overridden
        self._backends: Backends | None = None
        self._built: dict[str, ir.ExtAuth | None] = {}
        self.clusters: dict[str, ir.Cluster] = {}
        self.changed = False

    def route_config(self, config: ir.RouteConfig) -> ir.RouteConfig:
        mapped = ir.map_routes(config, self.route)
        self.changed = self.changed or mapped is not config
        return mapped

    def route(self, route: ir.Route) -> ir.Route:
        found = route.policy.get("extAuth") if route.policy is not None else None
        if found is None:
            return route
        if route.ext_auth is not None:
            self.overridden.setdefault(found.origin, set()).add(
                f"traffic.extAuth is not applied to {_rule_of(route)}: its ExternalAuth filter "
                "is more specific"
            )
            return route
        ext_auth = self.ext_auth(found)
        return route if ext_auth is None else dataclasses.replace(route, ext_auth=ext_auth)

    def ext_auth(self, found: PolicyField) -> ir.ExtAuth | None:
        key = found.origin + found.settings
        if key not in self._built:
            self._built[key] = self._build(found.origin, found.data())
        return self._built[key]

    def _build(self, origin: str, spec: dict[str, Any]) -> ir.ExtAuth | None:
        http = spec.get("http")
        protocol = ir.ExtAuthProtocol.HTTP if http is not None else ir.ExtAuthProtocol.GRPC
        ref = spec["backendRef"]
        namespace = ref.get("namespace") or origin.split("/")[1]
        cluster = self._cluster(namespace, ref, protocol)
        if cluster is None:
            return None
        http = http or {}
        settings: dict[str, Any] = {
            "path_prefix": http.get("path", ""),
            "allowed_headers": tuple(n.lower() for n in http.get("allowedRequestHeaders", ())),
            "allowed_response_headers": tuple(
                n.lower() for n in http.get("allowedResponseHeaders", ())
            ),
            "max_body_bytes": spec.get("forwardBody", {}).get("maxSize"),
            "failure_mode_allow": spec.get("failureMode", "FailClosed") == "FailOpen",
            "context_extensions": tuple(
                sorted((spec.get("grpc") or {}).get("contextExtensions", {}).items())
            ),
        }
        digest = hashlib.sha256(repr((protocol.value, sorted(settings.items()))).encode())
        return ir.ExtAuth(
            name=naming.ext_auth_filter(cluster.name, digest.hexdigest()[:8]),
            cluster=cluster.name,
            protocol=protocol,
            authority=f"{ref['name']}.{namespace}:{ref.get('port')}",
            **settings,
        )

    def _cluster(
        self, namespace: str, ref: dict[str, Any], protocol: ir.ExtAuthProtocol
    ) -> ir.Cluster | None:
        if self._backends is None:
            grants = ReferenceGrants(self.resources.reference_grants)
            self._backends = Backends(self.resources, grants)
        source = ReferenceFrom(AGENTGATEWAY_GROUP, _POLICY_KIND, namespace)
        forced = ir.UpstreamProtocol.H2C if protocol is ir.ExtAuthProtocol.GRPC else None
        model = BackendObjectReference.model_validate(ref)
        resolved = self._backends.resolve(source, model, forced)
        if isinstance(resolved, BackendProblem) or resolved.blocked:
            return None
        self.clusters[resolved.cluster.name] = resolved.cluster
        return resolved.cluster


def _rule_of(route: ir.Route) -> str:
    """ "HTTPRoute/ns/name rule N" for a route built from rule N (names per ``naming``)."""
    _, found, rest = route.name.partition("/rule/")
    return f"{route.origin} rule {rest.split('/')[0]}" if found and route.origin else route.name


def drop_unresolved_ext_auth(prepared: PreparedPolicy, resources: ResourceSet) -> None:
    """Drop ``traffic.extAuth`` from ``prepared`` when its service cannot be used, recording
    why in ``prepared.invalid``: a less specific policy's extAuth then applies."""
    text = prepared.settings.get("traffic", {}).get("extAuth")
    if text is None:
        return
    ref = json.loads(text)["backendRef"]
    namespace = ref.get("namespace") or prepared.policy.metadata.namespace
    source = ReferenceFrom(AGENTGATEWAY_GROUP, _POLICY_KIND, prepared.policy.metadata.namespace)
    backends = Backends(resources, ReferenceGrants(resources.reference_grants))
    resolved = backends.resolve(source, BackendObjectReference.model_validate(ref))
    if isinstance(resolved, BackendProblem):
        problem = resolved.message
    elif resolved.blocked:
        problem = f"the BackendTLSPolicy of Service {namespace}/{ref['name']} gives no valid trust"
    else:
        return
    del prepared.settings["traffic"]["extAuth"]
    prepared.invalid["traffic.extAuth"] = [f"spec.traffic.extAuth.backendRef: {problem}"]


def _listener(listener: ir.Listener, configs: dict[str, ir.RouteConfig]) -> ir.Listener:
    chains = []
    for chain in listener.filter_chains:
        config = configs.get(chain.route_config) if isinstance(chain, ir.HttpFilterChain) else None
        if isinstance(chain, ir.HttpFilterChain) and config is not None:
            ext_auths = ext_auths_of(config)
            if ext_auths != chain.ext_auths:
                chain = dataclasses.replace(chain, ext_auths=ext_auths)
        chains.append(chain)
    if all(a is b for a, b in zip(chains, listener.filter_chains, strict=True)):
        return listener
    return dataclasses.replace(listener, filter_chains=tuple(chains))
