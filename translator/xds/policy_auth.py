"""HTTP filters for AgentgatewayPolicy authentication, authorization and transformation: a
config in the connection manager that does nothing by itself, the settings per route.

Basic and API-key authentication are Envoy's basic_auth and api_key_auth filters, disabled on
the connection manager and enabled by a route's credentials. CEL authorization and
transformation are agw's own filters (typed configs generated from proto/agw/filters/v1alpha1);
stage 1 emits them only for gateways the agw proxy serves, as Envoy has no factory for them.
So it does for the settings of basic and API-key authentication Envoy's filters lack (optional
mode, realm, key metadata): a per-route ``AuthOptionsPerRoute`` beside theirs."""

from __future__ import annotations

import json
from typing import Any

from envoy.config.core.v3 import base_pb2
from envoy.extensions.filters.http.api_key_auth.v3 import api_key_auth_pb2
from envoy.extensions.filters.http.basic_auth.v3 import basic_auth_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from google.protobuf.message import Message

from agwproto.agw.filters.v1alpha1 import auth_options_pb2, authorization_pb2, transformation_pb2
from translator.ir import HttpFilterChain, Route
from translator.ir.auth import (
    AGW_ONLY_FILTERS,
    API_KEY_AUTH_FILTER,
    AUTH_OPTIONS_KEY,
    AUTHORIZATION_FILTER,
    BASIC_AUTH_FILTER,
    JWT_AUTHN_FILTER,
    NOBODY,
    TRANSFORMATION_FILTER,
    ApiKeyAuth,
    AuthOptions,
    CelTransform,
    HeaderExpression,
    RouteAuth,
)
from translator.xds.extensions import pack
from translator.xds.jwt_authn import build_jwt_authn_filter, build_jwt_per_route
from translator.xds.rbac import RBAC_FILTERS, add_rbac_per_route, build_rbac_filter

_ACTIONS = {
    "Allow": authorization_pb2.AuthorizationRule.ALLOW,
    "Deny": authorization_pb2.AuthorizationRule.DENY,
    "Require": authorization_pb2.AuthorizationRule.REQUIRE,
}
_FILTER_CONFIGS = {
    # Envoy requires users here; the filter is disabled and each route brings its own.
    API_KEY_AUTH_FILTER: api_key_auth_pb2.ApiKeyAuth,
    BASIC_AUTH_FILTER: lambda: basic_auth_pb2.BasicAuth(
        users=base_pb2.DataSource(inline_string=NOBODY + "\n")
    ),
    AUTHORIZATION_FILTER: authorization_pb2.Authorization,
    TRANSFORMATION_FILTER: transformation_pb2.Transformation,
}


def build_auth_filters(chain: HttpFilterChain) -> list[Message]:
    """The chain's authentication and authorization filters; inert on routes without a
    per-route config. The transformation filter is ``build_transformation_filter``'s."""
    names = chain.auth_filters
    jwt = [build_jwt_authn_filter(chain.jwt_authns)] if JWT_AUTHN_FILTER in names else []
    return jwt + [
        build_rbac_filter(name) if name in RBAC_FILTERS else _filter(name)
        for name in names
        if name not in (JWT_AUTHN_FILTER, TRANSFORMATION_FILTER)
    ]


def build_transformation_filter(chain: HttpFilterChain) -> list[Message]:
    """agw's CEL transformation, when a route of the chain uses it. It goes after ext_authz
    and the rate limit filters, as in agentgateway, so its expressions see ``extauthz``."""
    return [_filter(TRANSFORMATION_FILTER)] if TRANSFORMATION_FILTER in chain.auth_filters else []


def _filter(name: str) -> Message:
    return hcm_pb2.HttpFilter(
        name=name,
        typed_config=pack(_FILTER_CONFIGS[name]()),
        # Envoy's filters would apply to every route: routes turn them on.
        disabled=name not in AGW_ONLY_FILTERS,
    )


def add_auth_per_route(built: Any, route: Route) -> None:
    auth = route.auth
    if auth is None:
        return
    per_filter = built.typed_per_filter_config
    if auth.jwt is not None:
        per_filter[JWT_AUTHN_FILTER].CopyFrom(build_jwt_per_route(auth.jwt))
    if auth.basic_auth is not None:
        users = base_pb2.DataSource(inline_string="\n".join(auth.basic_auth.users) + "\n")
        per_filter[BASIC_AUTH_FILTER].CopyFrom(pack(basic_auth_pb2.BasicAuthPerRoute(users=users)))
    if auth.api_key_auth is not None:
        per_filter[API_KEY_AUTH_FILTER].CopyFrom(pack(build_api_key_auth(auth.api_key_auth)))
    if auth.options is not None:
        per_filter[AUTH_OPTIONS_KEY].CopyFrom(pack(build_auth_options(auth.options)))
    if auth.authorization:
        per_filter[AUTHORIZATION_FILTER].CopyFrom(pack(build_authorization(auth)))
    if auth.envoy_authorization:
        add_rbac_per_route(per_filter, auth)
    if auth.transformation is not None:
        per_filter[TRANSFORMATION_FILTER].CopyFrom(pack(build_transformation(auth)))


def build_api_key_auth(api_key: ApiKeyAuth) -> Message:
    return api_key_auth_pb2.ApiKeyAuthPerRoute(
        credentials=[
            api_key_auth_pb2.Credential(key=key, client=client)
            for key, client in api_key.credentials
        ],
        # "Bearer " is stripped from the header's value by the filter.
        key_sources=[api_key_auth_pb2.KeySource(header="authorization")],
    )


def build_auth_options(options: AuthOptions) -> Message:
    built = auth_options_pb2.AuthOptionsPerRoute(
        basic_auth_optional=options.basic_optional,
        basic_auth_realm=options.basic_realm,
        api_key_optional=options.api_key_optional,
        api_key_hash=(
            auth_options_pb2.AuthOptionsPerRoute.SHA256
            if options.api_key_sha256
            else auth_options_pb2.AuthOptionsPerRoute.NONE
        ),
    )
    for client, metadata in options.api_key_metadata:
        built.api_key_metadata[client].update(json.loads(metadata))
    return built


def build_authorization(auth: RouteAuth) -> Message:
    return authorization_pb2.AuthorizationPerRoute(
        rules=[
            authorization_pb2.AuthorizationRule(
                action=_ACTIONS[rule.action],
                expressions=list(rule.expressions),
                origin=rule.origin,
            )
            for rule in auth.authorization
        ]
    )


def build_transformation(auth: RouteAuth) -> Message:
    built = transformation_pb2.TransformationPerRoute()
    transformation = auth.transformation
    if transformation is not None and transformation.request is not None:
        built.request.CopyFrom(_transform(transformation.request))
    if transformation is not None and transformation.response is not None:
        built.response.CopyFrom(_transform(transformation.response))
    return built


def _transform(transform: CelTransform) -> Message:
    built = transformation_pb2.Transform(
        set=[_header(h) for h in transform.set],
        add=[_header(h) for h in transform.add],
        remove=list(transform.remove),
        body=transform.body or "",
    )
    built.metadata.update(dict(transform.metadata))
    return built


def _header(header: HeaderExpression) -> Message:
    return transformation_pb2.HeaderExpression(name=header.name, expression=header.expression)
