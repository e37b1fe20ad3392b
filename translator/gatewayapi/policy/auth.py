"""Turn the merged ``traffic`` JWT, basic and API-key authentication, authorization and
transformation of each route into ``ir.RouteAuth``, and tell each HTTP filter chain which auth
filters (and JWT requirements) it needs.

Authorization and transformation are CEL evaluated per request by the agw proxy, which also
verifies more htpasswd hashes than Envoy (``auth_options``). Gateways served by Envoy get no
transformation, and get the authorization rules whose expressions all convert to Envoy's CEL
as RBAC filters (``rbac``); their policies' statuses name the rest (see ``enforcement``).
Routes without these settings keep their IR objects, so incremental translation reuses
them."""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

from translator import ir
from translator.gatewayapi.policy.auth_options import agw_basic_auth, auth_options
from translator.gatewayapi.policy.credentials import api_key_auth, basic_auth, jwt_authn
from translator.gatewayapi.policy.rbac import envoy_rules
from translator.ir.auth import (
    AUTH_FILTERS,
    BasicAuth,
    CelTransform,
    CelTransformation,
    HeaderExpression,
    JwtAuthn,
    RouteAuth,
)
from translator.ir.policy import PolicyField, TrafficPolicy
from translator.options import DataPlane
from translator.resources import ResourceSet


def apply_auth(
    gateway: ir.GatewayIR, data_plane: DataPlane, resources: ResourceSet
) -> ir.GatewayIR:
    builder = _Builder(data_plane, resources)
    used: dict[str, set[str]] = {}
    jwts: dict[str, dict[str, JwtAuthn]] = {}
    configs = []
    for config in gateway.route_configs:
        filters = used.setdefault(config.name, set())
        found = jwts.setdefault(config.name, {})
        change = functools.partial(builder.route, filters=filters, jwts=found)
        configs.append(ir.map_routes(config, change))
    if not any(used.values()):
        return gateway
    listeners = tuple(_listener(listener, used, jwts) for listener in gateway.listeners)
    return dataclasses.replace(gateway, route_configs=tuple(configs), listeners=listeners)


class _Builder:
    def __init__(self, data_plane: DataPlane, resources: ResourceSet) -> None:
        self.agw = data_plane is DataPlane.AGW
        self.resources = resources

    def route(self, route: ir.Route, filters: set[str], jwts: dict[str, JwtAuthn]) -> ir.Route:
        auth = self.route_auth(route.policy)
        if auth is None:
            return route
        filters.update(auth.filters())
        if auth.jwt is not None:
            jwts[auth.jwt.name] = auth.jwt
        return dataclasses.replace(route, auth=auth)

    def route_auth(self, policy: TrafficPolicy | None) -> RouteAuth | None:
        """What of ``policy`` the auth filters enforce on this data plane; None when nothing."""
        if policy is None:
            return None
        transformation = policy.get("transformation") if self.agw else None
        basic = policy.get("basicAuthentication")
        api_key = policy.get("apiKeyAuthentication")
        jwt = policy.get("jwtAuthentication")
        auth = RouteAuth(
            authorization=policy.authorization if self.agw else (),
            envoy_authorization=() if self.agw else envoy_rules(policy.authorization),
            transformation=_transformation(transformation.data()) if transformation else None,
            jwt=jwt_authn(jwt) if jwt else None,
            basic_auth=self.basic_auth(basic) if basic else None,
            api_key_auth=api_key_auth(api_key, self.resources, self.agw) if api_key else None,
            options=auth_options(basic, api_key, self.resources) if self.agw else None,
        )
        return auth if auth.filters() else None

    def basic_auth(self, field: PolicyField) -> BasicAuth | None:
        """The agw proxy verifies more htpasswd hashes than Envoy's ``{SHA}``."""
        if self.agw:
            return agw_basic_auth(field, self.resources)
        return basic_auth(field, self.resources, agw=False)


def _listener(
    listener: ir.Listener, used: dict[str, set[str]], jwts: dict[str, dict[str, JwtAuthn]]
) -> ir.Listener:
    chains = []
    for chain in listener.filter_chains:
        if isinstance(chain, ir.HttpFilterChain) and used.get(chain.route_config):
            names = used[chain.route_config]
            found = jwts.get(chain.route_config, {})
            chain = dataclasses.replace(
                chain,
                auth_filters=tuple(name for name in AUTH_FILTERS if name in names),
                jwt_authns=tuple(found[name] for name in sorted(found)),
            )
        chains.append(chain)
    if all(a is b for a, b in zip(chains, listener.filter_chains, strict=True)):
        return listener
    return dataclasses.replace(listener, filter_chains=tuple(chains))


def _transformation(data: dict[str, Any]) -> CelTransformation | None:
    built = CelTransformation(
        request=_transform(data.get("request")), response=_transform(data.get("response"))
    )
    return built if built.request or built.response else None


def _transform(data: dict[str, Any] | None) -> CelTransform | None:
    if not data:
        return None
    built = CelTransform(
        set=_headers(data.get("set", ())),
        add=_headers(data.get("add", ())),
        remove=tuple(name.lower() for name in data.get("remove", ())),
        metadata=tuple(sorted(data.get("metadata", {}).items())),
        body=data.get("body"),
    )
    return built if built != CelTransform() else None


def _headers(entries: Any) -> tuple[HeaderExpression, ...]:
    return tuple(HeaderExpression(e["name"].lower(), e["value"]) for e in entries)
