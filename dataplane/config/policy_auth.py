"""Compile the HTTP filters AgentgatewayPolicy authentication and authorization use, and their
per-route settings: Envoy's basic_auth and api_key_auth, and agw's own CEL authorization and
transformation (typed configs generated from proto/agw/filters/v1alpha1).

agw's filter configs are empty, Envoy's must be disabled on the connection manager: a
filter in the chain makes the routes' per-route configs take effect.

Every CEL expression is compiled here, once per configuration. One that does not compile (a
NACK would drop the whole update) is kept as such: a Deny rule holding it denies every
request, a Require or Allow rule never matches through it, a header expression writes
nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from envoy.extensions.filters.http.api_key_auth.v3 import api_key_auth_pb2
from envoy.extensions.filters.http.basic_auth.v3 import basic_auth_pb2
from envoy.extensions.filters.http.jwt_authn.v3 import config_pb2
from google.protobuf import json_format

from agwproto.agw.filters.v1alpha1 import auth_options_pb2, authorization_pb2, transformation_pb2
from cel import CompileError, Program, compile_expression
from dataplane.config.jwt_authn import JWT_AUTHN_TYPE, PER_ROUTE_TYPE, compile_jwt_per_route
from dataplane.config.support import check_fields
from dataplane.config.values import data_source_bytes
from dataplane.errors import InvalidConfig, UnsupportedValue
from dataplane.htpasswd import PasswordHash, parse_hash

BASIC_AUTH_FILTER = "envoy.filters.http.basic_auth"
API_KEY_AUTH_FILTER = "envoy.filters.http.api_key_auth"
JWT_AUTHN_FILTER = "envoy.filters.http.jwt_authn"
AUTHORIZATION_FILTER = "agw.filters.http.authorization"
TRANSFORMATION_FILTER = "agw.filters.http.transformation"
_PACKAGE = "type.googleapis.com/agw.filters.v1alpha1."
_BASIC = "type.googleapis.com/envoy.extensions.filters.http.basic_auth.v3.BasicAuth"
_API_KEY = "type.googleapis.com/envoy.extensions.filters.http.api_key_auth.v3.ApiKeyAuth"
_FILTER_TYPES: dict[str, Any] = {
    _PACKAGE + "Authorization": authorization_pb2.Authorization,
    _PACKAGE + "Transformation": transformation_pb2.Transformation,
    _BASIC: basic_auth_pb2.BasicAuth,
    _API_KEY: api_key_auth_pb2.ApiKeyAuth,
    JWT_AUTHN_TYPE: config_pb2.JwtAuthentication,
}
_PER_ROUTE_TYPES: dict[str, Any] = {
    _PACKAGE + "AuthorizationPerRoute": authorization_pb2.AuthorizationPerRoute,
    _PACKAGE + "TransformationPerRoute": transformation_pb2.TransformationPerRoute,
    _PACKAGE + "AuthOptionsPerRoute": auth_options_pb2.AuthOptionsPerRoute,
    _BASIC + "PerRoute": basic_auth_pb2.BasicAuthPerRoute,
    _API_KEY + "PerRoute": api_key_auth_pb2.ApiKeyAuthPerRoute,
    PER_ROUTE_TYPE: config_pb2.PerRouteConfig,
}
_ACTIONS = {
    authorization_pb2.AuthorizationRule.ALLOW: "Allow",
    authorization_pb2.AuthorizationRule.DENY: "Deny",
    authorization_pb2.AuthorizationRule.REQUIRE: "Require",
}


@dataclass(frozen=True, slots=True)
class Expression:
    source: str
    # None: the source did not compile; evaluating it is an error.
    program: Program | None


@dataclass(frozen=True, slots=True)
class AuthorizationRule:
    action: str
    expressions: tuple[Expression, ...]
    origin: str = ""


@dataclass(frozen=True, slots=True)
class HeaderExpression:
    name: bytes
    expression: Expression


@dataclass(frozen=True, slots=True)
class CelTransform:
    set: tuple[HeaderExpression, ...] = ()
    add: tuple[HeaderExpression, ...] = ()
    remove: tuple[bytes, ...] = ()
    metadata: tuple[tuple[str, Expression], ...] = ()
    body: Expression | None = None


@dataclass(frozen=True, slots=True)
class AuthOptions:
    """What basic and API-key authentication set beyond Envoy's filters."""

    basic_optional: bool = False
    # The WWW-Authenticate value sent with a basic_auth refusal; None sends none.
    basic_challenge: bytes | None = None
    api_key_optional: bool = False
    # The route's keys are hex SHA-256 digests of what clients present.
    api_key_sha256: bool = False
    # client -> its key's metadata, CEL's apiKey.metadata.
    api_key_metadata: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True, slots=True)
class RouteAuth:
    """One route's rules (least specific first) and transforms."""

    authorization: tuple[AuthorizationRule, ...] = ()
    request: CelTransform | None = None
    response: CelTransform | None = None
    # basic_auth users: name -> the hash of the password.
    basic_users: Mapping[str, PasswordHash] | None = None
    api_keys: ApiKeys | None = None
    # The jwt_authn requirement the route names.
    jwt_requirement: str | None = None
    options: AuthOptions = AuthOptions()


@dataclass(frozen=True, slots=True)
class ApiKeys:
    """api_key_auth: key -> client; where the key is looked for, in order."""

    clients: Mapping[str, str]
    headers: tuple[bytes, ...] = ()
    queries: tuple[bytes, ...] = ()


def is_auth_filter(http_filter: Any) -> bool:
    return bool(http_filter.typed_config.type_url in _FILTER_TYPES)


def check_auth_filter(http_filter: Any) -> str:
    """The filter's name, once its (empty) config is checked."""
    config: Any = _FILTER_TYPES[http_filter.typed_config.type_url]()
    http_filter.typed_config.Unpack(config)
    where = f"HttpFilter {http_filter.name!r}"
    if isinstance(config, config_pb2.JwtAuthentication):
        return str(http_filter.name)  # compiled by compile_jwt_authn
    if isinstance(config, api_key_auth_pb2.ApiKeyAuth):
        check_fields(config, "ApiKeyAuth", where)
        if not http_filter.disabled:
            raise UnsupportedValue("HttpFilter.disabled (api_key_auth for all routes)", "false")
        return str(http_filter.name)
    if isinstance(config, basic_auth_pb2.BasicAuth):
        check_fields(config, "BasicAuth", where)
        htpasswd_users(data_source_bytes(config.users), "BasicAuth.users")
        if not http_filter.disabled:
            raise UnsupportedValue(
                "HttpFilter.disabled (basic_auth for all routes)", "false", where
            )
        return str(http_filter.name)
    if config.ListFields() or http_filter.typed_config.value:
        raise InvalidConfig(f"HttpFilter {http_filter.name!r}: the filter config must be empty")
    return str(http_filter.name)


def is_auth_per_route(packed: Any) -> bool:
    return bool(packed.type_url in _PER_ROUTE_TYPES)


def compile_route_auth(per_filter: Any, path: str) -> RouteAuth | None:
    """The route's settings of both filters, keyed by filter name; None when it has none."""
    rules: tuple[AuthorizationRule, ...] = ()
    request = response = None
    basic = None
    api_keys = None
    jwt = None
    options = AuthOptions()
    for name, packed in per_filter.items():
        if not is_auth_per_route(packed):
            continue
        config: Any = _PER_ROUTE_TYPES[packed.type_url]()
        packed.Unpack(config)
        if isinstance(config, config_pb2.PerRouteConfig):
            jwt = compile_jwt_per_route(packed, f"{path}[{name}]")
        elif isinstance(config, api_key_auth_pb2.ApiKeyAuthPerRoute):
            check_fields(config, "ApiKeyAuthPerRoute")
            api_keys = _api_keys(config)
        elif isinstance(config, basic_auth_pb2.BasicAuthPerRoute):
            check_fields(config, "BasicAuthPerRoute")
            basic = htpasswd_users(data_source_bytes(config.users), f"{path}[{name}].users")
        elif isinstance(config, auth_options_pb2.AuthOptionsPerRoute):
            options = _options(config)
        elif isinstance(config, authorization_pb2.AuthorizationPerRoute):
            if name != AUTHORIZATION_FILTER:
                raise UnsupportedValue(f"{path}[{name}].type_url", packed.type_url)
            rules = tuple(_rule(rule) for rule in config.rules)
        else:
            if name != TRANSFORMATION_FILTER:
                raise UnsupportedValue(f"{path}[{name}].type_url", packed.type_url)
            request = _transform(config.request) if config.HasField("request") else None
            response = _transform(config.response) if config.HasField("response") else None
    auth = RouteAuth(rules, request, response, basic, api_keys, jwt, options)
    return None if auth == RouteAuth() else auth


def _options(config: Any) -> AuthOptions:
    if not config.basic_auth_realm.isprintable():
        raise InvalidConfig("AuthOptionsPerRoute.basic_auth_realm: not printable")
    # A quoted-string (RFC 9110): backslash-escape quotes and backslashes.
    realm = config.basic_auth_realm.replace("\\", "\\\\").replace('"', '\\"')
    return AuthOptions(
        basic_optional=config.basic_auth_optional,
        basic_challenge=f'Basic realm="{realm}"'.encode() if realm else None,
        api_key_optional=config.api_key_optional,
        api_key_sha256=config.api_key_hash == auth_options_pb2.AuthOptionsPerRoute.SHA256,
        api_key_metadata=MappingProxyType(
            {
                client: json_format.MessageToDict(metadata)
                for client, metadata in sorted(config.api_key_metadata.items())
            }
        ),
    )


def _api_keys(config: Any) -> ApiKeys:
    clients: dict[str, str] = {}
    for credential in config.credentials:
        if not credential.key or credential.key in clients:
            raise InvalidConfig("ApiKeyAuthPerRoute.credentials: keys must be set and distinct")
        clients[credential.key] = credential.client
    return ApiKeys(
        MappingProxyType(clients),
        tuple(s.header.lower().encode("latin-1") for s in config.key_sources if s.header),
        tuple(s.query.encode("latin-1") for s in config.key_sources if s.query),
    )


def htpasswd_users(content: bytes, path: str) -> Mapping[str, PasswordHash]:
    """``user:<hash>`` lines: Envoy's ``{SHA}``, and the bcrypt, ``$apr1$`` and SHA-crypt
    hashes agentgateway also accepts (``dataplane.htpasswd``)."""
    users: dict[str, PasswordHash] = {}
    for number, raw in enumerate(content.decode("utf-8", "replace").splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        user, _, text = line.partition(":")
        hashed = parse_hash(text) if user else None
        if hashed is None:
            raise InvalidConfig(
                f"{path}: line {number} is not user:<hash> with a {{SHA}}, bcrypt, $apr1$,"
                " $5$ or $6$ hash"
            )
        if user in users:
            raise InvalidConfig(f"{path}: user {user!r} appears twice")
        users[user] = hashed
    return MappingProxyType(users)


def _rule(rule: Any) -> AuthorizationRule:
    return AuthorizationRule(
        _ACTIONS[rule.action], tuple(_expression(e) for e in rule.expressions), rule.origin
    )


def _transform(transform: Any) -> CelTransform:
    return CelTransform(
        set=tuple(_header(h) for h in transform.set),
        add=tuple(_header(h) for h in transform.add),
        remove=tuple(name.lower().encode("latin-1") for name in transform.remove),
        metadata=tuple(
            (key, _expression(source)) for key, source in sorted(transform.metadata.items())
        ),
        body=_expression(transform.body) if transform.body else None,
    )


def _header(header: Any) -> HeaderExpression:
    name = header.name.lower()
    if not name or name.startswith(":") or name == "host":
        raise InvalidConfig(f"HeaderExpression: header {header.name!r} may not be modified")
    return HeaderExpression(name.encode("latin-1"), _expression(header.expression))


def _expression(source: str) -> Expression:
    try:
        return Expression(source, compile_expression(source))
    except CompileError:
        return Expression(source, None)
