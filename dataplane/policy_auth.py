"""The AgentgatewayPolicy auth filters on the request path, in chain order: jwt_authn,
basic_auth, api_key_auth, agw's CEL authorization, agw's CEL transformation.

JWT authentication (Envoy's filter, ``dataplane.jwt``): the route's requirement decides; a
verified token's claims are ``jwt`` to CEL.

Basic authentication (Envoy's filter): ``Authorization: Basic`` credentials whose password's
SHA-1 matches the user's htpasswd entry; anything else answers 401. The user is ``basicAuth``
(``basicAuth.username``) to the CEL expressions that follow.

API-key authentication (Envoy's filter): the key from the first configured header (its
"Bearer " prefix stripped) or query parameter must be one of the route's; anything else
answers 401. The key's client is ``apiKey`` (``apiKey.client``) to CEL.

Authorization (agentgateway's semantics): a request is denied when any Deny rule matches,
when any Require rule does not match, or when Allow rules exist and none matches; a rule
matches when any of its expressions is ``true``. An expression that fails at run time (a
missing header, a type error) is not ``true``; one that did not compile fails closed: a Deny
rule holding it denies every request. Denials answer 403 before the request goes anywhere.

Transformation runs after authorization: metadata first, then the request's header changes
(remove, set, add) on the head that is forwarded; the response's header changes are computed
now, from the request, and applied to whatever response the client gets. A header
expression that fails or yields null writes nothing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING

from cel import Activation, EvaluationError, Value
from dataplane import jwt
from dataplane.cel.facts import HeadFacts, PeerAddress
from dataplane.config.header_mutation import HeaderOp, HeaderOps, apply_ops
from dataplane.config.policy_auth import (
    API_KEY_AUTH_FILTER,
    AUTHORIZATION_FILTER,
    BASIC_AUTH_FILTER,
    TRANSFORMATION_FILTER,
    ApiKeys,
    AuthorizationRule,
    CelTransform,
    Expression,
    RouteAuth,
)
from dataplane.request import RequestHead

if TYPE_CHECKING:
    from dataplane.config.listener import HttpSettings
    from dataplane.http1.exchange import Exchange

DENIED_BODY = b"RBAC: access denied"
# Envoy's basic_auth answer.
BASIC_DENIED_BODY = b"User authentication failed. Invalid username/password combination."
API_KEY_DENIED_BODY = b"Client authentication failed."


Identity = dict[str, Mapping[str, Value]]


def activation(
    exchange: Exchange, identity: Identity, metadata: Mapping[str, Value] | None = None
) -> Activation:
    peer = exchange.conn.peer.decode("latin-1")
    return Activation(
        HeadFacts(exchange.head, exchange.protocol_name),
        source=PeerAddress(peer, 0),
        metadata=metadata,
        jwt=identity.get("jwt"),
        basicAuth=identity.get("basicAuth"),
        apiKey=identity.get("apiKey"),
    )


def run(exchange: Exchange, auth: RouteAuth, settings: HttpSettings) -> bool:
    """Apply the route's settings of the filters in the chain; True when the request was
    refused (and answered)."""
    filters = settings.auth_filters
    identity: Identity = {}
    if auth.jwt_requirement is not None and settings.jwt_authn is not None:
        failure, claims = jwt.authenticate(exchange.head, settings.jwt_authn, auth.jwt_requirement)
        if failure is not None:
            exchange.local_reply(failure.status, failure.message)
            return True
        if claims is not None:
            identity["jwt"] = claims
    if auth.basic_users is not None and BASIC_AUTH_FILTER in filters:
        user = basic_user(exchange.head.header(b"authorization"), auth.basic_users)
        if user is None:
            exchange.local_reply(401, BASIC_DENIED_BODY)
            return True
        identity["basicAuth"] = {"username": user}
    if auth.api_keys is not None and API_KEY_AUTH_FILTER in filters:
        client = api_key_client(exchange.head, auth.api_keys)
        if client is None:
            exchange.local_reply(401, API_KEY_DENIED_BODY)
            return True
        identity["apiKey"] = {"client": client}
    if (
        auth.authorization
        and AUTHORIZATION_FILTER in filters
        and not is_allowed(auth.authorization, activation(exchange, identity))
    ):
        exchange.local_reply(403, DENIED_BODY)
        return True
    if TRANSFORMATION_FILTER in filters and (auth.request or auth.response):
        transform(exchange, auth, identity)
    return False


def api_key_client(head: RequestHead, keys: ApiKeys) -> str | None:
    key: bytes | None = None
    for name in keys.headers:
        value = next((v for n, v in head.headers if n == name), None)
        if value:
            key = value[7:] if value.startswith(b"Bearer ") else value
            break
    if not key:
        key = next(filter(None, (head.query_param(q) for q in keys.queries)), None)
    return keys.clients.get(key.decode("latin-1")) if key else None


def basic_user(value: bytes | None, users: Mapping[str, bytes]) -> str | None:
    """The user whose credentials ``value`` (an Authorization header) carries, if valid."""
    if value is None or value[:6].lower() != b"basic ":
        return None
    try:
        decoded = base64.b64decode(value[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    expected = users.get(user)
    if not sep or expected is None:
        return None
    digest = hashlib.sha1(password.encode("utf-8")).digest()
    return user if hmac.compare_digest(digest, expected) else None


def is_allowed(rules: tuple[AuthorizationRule, ...], variables: Activation) -> bool:
    has_allow = allowed = False
    for rule in rules:
        matched = _matches(rule.expressions, variables, broken=rule.action == "Deny")
        if rule.action == "Deny" and matched:
            return False
        if rule.action == "Require" and not matched:
            return False
        if rule.action == "Allow":
            has_allow = True
            allowed = allowed or matched
    return allowed or not has_allow


def _matches(expressions: tuple[Expression, ...], variables: Activation, broken: bool) -> bool:
    for expression in expressions:
        if expression.program is None:
            if broken:
                return True
            continue
        if evaluate(expression, variables, False) is True:
            return True
    return False


def evaluate(expression: Expression, variables: Activation, on_error: Value) -> Value:
    if expression.program is None:
        return on_error
    try:
        return expression.program.evaluate(variables)
    except EvaluationError:
        return on_error


def transform(exchange: Exchange, auth: RouteAuth, identity: Identity) -> None:
    if auth.request is not None:
        apply_ops(header_ops(auth.request, exchange, identity), exchange.head.headers)
    if auth.response is not None:
        # Local replies and forwarded responses both apply these, like CORS headers.
        exchange.cors_ops = exchange.cors_ops + header_ops(auth.response, exchange, identity)


def header_ops(transform: CelTransform, exchange: Exchange, identity: Identity) -> HeaderOps:
    metadata: dict[str, Value] = {}
    if transform.metadata:
        variables = activation(exchange, identity)
        for key, expression in transform.metadata:
            value = evaluate(expression, variables, None)
            if value is not None:
                metadata[key] = value
    variables = activation(exchange, identity, metadata or None)
    ops: list[tuple[HeaderOp, bytes, bytes]] = [(HeaderOp.REMOVE, n, b"") for n in transform.remove]
    for kind, headers in (
        (HeaderOp.OVERWRITE_OR_ADD, transform.set),
        (HeaderOp.APPEND, transform.add),
    ):
        for header in headers:
            value = header_value(evaluate(header.expression, variables, None))
            if value is not None:
                ops.append((kind, header.name, value))
    return tuple(ops)


def header_value(value: Value) -> bytes | None:
    """A CEL value as a header value: strings as they are, others as JSON-ish text."""
    if value is None:
        return None
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        text = value
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, int | float):
        text = str(value)
    else:
        try:
            text = json.dumps(value, separators=(",", ":"), default=str)
        except (TypeError, ValueError):
            text = str(value)
    encoded = text.encode("utf-8")
    # A value with a line break would split the header: never written.
    return None if b"\r" in encoded or b"\n" in encoded else encoded
