"""JWT providers whose key set is remote (``jwks.remote``): the server is a backendRef resolved
like a route's, its cluster added to the Gateway, and each provider fetches
``http://<service>.<namespace>:<port><path>`` through it, caching the set for
``cacheDuration`` (Envoy's ``remote_jwks``; the agw proxy does the same).

Runs after ``auth``, which builds the routes' JWT requirements from inline key sets only; a
remote provider whose server cannot be resolved stays out, so a requirement left without
providers fails closed."""

from __future__ import annotations

import dataclasses
from typing import Any

from translator import ir
from translator.gatewayapi.policy.backendref import PolicyBackendRefs
from translator.ir.auth import JwtAuthn, JwtProvider, RemoteJwks
from translator.ir.policy import PolicyField
from translator.model.duration import parse_duration
from translator.resources import ResourceSet


def apply_remote_jwks(gateway: ir.GatewayIR, resources: ResourceSet) -> ir.GatewayIR:
    """``gateway`` with remote providers in its JWT requirements; the same object when no
    policy it carries names one."""
    builder = _Builder(resources)
    configs = tuple(ir.map_routes(config, builder.route) for config in gateway.route_configs)
    if not builder.changed:
        return gateway
    listeners = tuple(_listener(listener, builder.changed) for listener in gateway.listeners)
    return dataclasses.replace(
        gateway,
        route_configs=configs,
        listeners=listeners,
        clusters=builder.refs.with_clusters(gateway),
    )


class _Builder:
    def __init__(self, resources: ResourceSet) -> None:
        self.refs = PolicyBackendRefs(resources)
        # requirement name -> the requirement with its remote providers
        self.changed: dict[str, JwtAuthn] = {}

    def route(self, route: ir.Route) -> ir.Route:
        auth = route.auth
        found = route.policy.get("jwtAuthentication") if route.policy is not None else None
        if auth is None or auth.jwt is None or found is None:
            return route
        jwt = self.changed.get(auth.jwt.name) or self.with_remote(auth.jwt, found)
        if jwt is auth.jwt:
            return route
        self.changed[jwt.name] = jwt
        return dataclasses.replace(route, auth=dataclasses.replace(auth, jwt=jwt))

    def with_remote(self, jwt: JwtAuthn, found: PolicyField) -> JwtAuthn:
        providers = {provider.name: provider for provider in jwt.providers}
        for index, spec in enumerate(found.data()["providers"]):
            remote = spec["jwks"].get("remote")
            name = f"{found.origin}/{index}"
            if remote is not None:
                provider = self.provider(name, found.origin, spec, remote)
                if provider is not None:
                    providers[name] = provider
        if len(providers) == len(jwt.providers):
            return jwt
        ordered = tuple(providers[name] for name in sorted(providers, key=_index))
        return dataclasses.replace(jwt, providers=ordered)

    def provider(
        self, name: str, origin: str, spec: dict[str, Any], remote: dict[str, Any]
    ) -> JwtProvider | None:
        ref = remote["backendRef"]
        cluster = self.refs.resolve(origin, ref)
        if cluster is None:
            return None
        namespace = ref.get("namespace") or origin.split("/")[1]
        uri = f"http://{ref['name']}.{namespace}:{ref['port']}{remote.get('path', '/')}"
        locations = spec.get("tokenLocations", ())
        return JwtProvider(
            name=name,
            issuer=spec["issuer"],
            audiences=tuple(spec.get("audiences", ())),
            jwks="",
            headers=tuple((t["header"], t.get("prefix", "")) for t in locations if "header" in t),
            params=tuple(t["queryParameter"] for t in locations if "queryParameter" in t),
            cookies=tuple(t["cookie"] for t in locations if "cookie" in t),
            remote=RemoteJwks(cluster.name, uri, parse_duration(remote.get("cacheDuration", "5m"))),
        )


def _index(name: str) -> int:
    return int(name.rpartition("/")[2])


def _listener(listener: ir.Listener, changed: dict[str, JwtAuthn]) -> ir.Listener:
    chains = []
    for chain in listener.filter_chains:
        if isinstance(chain, ir.HttpFilterChain) and any(
            j.name in changed for j in chain.jwt_authns
        ):
            jwts = tuple(changed.get(j.name, j) for j in chain.jwt_authns)
            chain = dataclasses.replace(chain, jwt_authns=jwts)
        chains.append(chain)
    if all(a is b for a, b in zip(chains, listener.filter_chains, strict=True)):
        return listener
    return dataclasses.replace(listener, filter_chains=tuple(chains))
