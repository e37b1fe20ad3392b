"""The AgentgatewayPolicy auth filters on the request path, in chain order: jwt_authn,
basic_auth, api_key_auth, agw's CEL authorization.

JWT authentication (Envoy's filter, ``dataplane.jwt``): the route's requirement decides; a
verified token's claims are ``jwt`` to CEL.

Basic authentication (Envoy's filter): ``Authorization: Basic`` credentials whose password
matches the user's htpasswd entry; anything else answers 401. Envoy verifies ``{SHA}`` hashes
only, the agw proxy also bcrypt, ``$apr1$`` and SHA-crypt (``dataplane.htpasswd``, which
remembers recent answers so a client repeating its credentials pays the hash once). The user
is ``basicAuth`` (``basicAuth.username``) to the CEL expressions that follow. A password whose
answer is not remembered is hashed in a thread while the request is held (``extauth``'s hold,
which then runs the filters after basic_auth, ext_authz and the rest); when the worker has
``htpasswd.MAX_CHECKING`` such checks in flight, the request is answered 503 at once.

API-key authentication (Envoy's filter): the key from the first configured header (its
"Bearer " prefix stripped) or query parameter must be one of the route's; anything else
answers 401. The key's client is ``apiKey`` (``apiKey.client``) to CEL, its Secret entry's
metadata ``apiKey.metadata``.

Both take agw's ``AuthOptionsPerRoute`` beside Envoy's settings: in Optional mode a request
without credentials passes (wrong ones are still refused); a basic realm is sent as
``WWW-Authenticate: Basic realm="..."`` with the 401.

Authorization (agentgateway's semantics): a request is denied when any Deny rule matches,
when any Require rule does not match, or when Allow rules exist and none matches; a rule
matches when any of its expressions is ``true``. An expression that fails at run time (a
missing header, a type error) is not ``true``; one that did not compile fails closed: a Deny
rule holding it denies every request. Denials answer 403 before the request goes anywhere.

Transformation (``dataplane.transformation``) comes later in the chain, after ext_authz and the
rate limit filters.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping
from functools import partial
from typing import TYPE_CHECKING

from cel import Activation
from dataplane import extauth, htpasswd, jwt
from dataplane.cel.exchange import Identity, exchange_variables
from dataplane.config.policy_auth import (
    API_KEY_AUTH_FILTER,
    AUTHORIZATION_FILTER,
    BASIC_AUTH_FILTER,
    ApiKeys,
    AuthOptions,
    AuthorizationRule,
    Expression,
    RouteAuth,
)
from dataplane.extauth import Verdict
from dataplane.htpasswd import PasswordHash, PendingCheck
from dataplane.request import RequestHead
from dataplane.transformation import evaluate

if TYPE_CHECKING:
    from dataplane.chain import HttpChain
    from dataplane.config.listener import HttpSettings
    from dataplane.config.route_table import RouteEntry
    from dataplane.http1.exchange import Exchange

DENIED_BODY = b"RBAC: access denied"
# Envoy's basic_auth answer.
BASIC_DENIED_BODY = b"User authentication failed. Invalid username/password combination."
API_KEY_DENIED_BODY = b"Client authentication failed."
BUSY_BODY = b"Too many password checks in progress; try again."
_ALLOWED = Verdict()
_DENIED = Verdict(403, body=DENIED_BODY)
_BUSY = Verdict(503, body=BUSY_BODY)


def run(exchange: Exchange, route: RouteEntry, chain: HttpChain) -> bool:
    """Apply the route's settings of the filters in the chain; True when the request was
    refused (and answered), or is held while its password is hashed (the hold then runs the
    rest of the request path)."""
    auth = route.auth
    assert auth is not None  # the caller's test
    settings = chain.settings
    identity: Identity = {}
    if auth.jwt_requirement is not None and settings.jwt_authn is not None:
        failure, claims = jwt.authenticate(exchange.head, settings.jwt_authn, auth.jwt_requirement)
        if failure is not None:
            exchange.local_reply(failure.status, failure.message)
            return True
        if claims is not None:
            identity["jwt"] = claims
    if auth.basic_users is not None and BASIC_AUTH_FILTER in settings.auth_filters:
        basic = _basic(exchange, auth, identity)
        if isinstance(basic, tuple):
            user, pending = basic
            resume = partial(_after_password, exchange, auth, settings, identity, user, pending)
            return extauth.intercept(exchange, route, chain, resume)
        if basic is not None:
            return _refused(exchange, basic)
    refusal = _after_basic(exchange, auth, settings, identity)
    return refusal is not None and _refused(exchange, refusal)


def _refused(exchange: Exchange, refusal: Verdict) -> bool:
    exchange.local_reply(refusal.status, refusal.body, refusal.headers)
    return True


def _basic(
    exchange: Exchange, auth: RouteAuth, identity: Identity
) -> Verdict | tuple[str, PendingCheck] | None:
    """The refusal; or the user and their password's check in progress; or None when the
    request goes on (``identity`` holds the user, unless Optional mode let a request without
    basic credentials through)."""
    options = auth.options
    value = exchange.head.header(b"authorization")
    if options.basic_optional and (value is None or value[:6].lower() != b"basic "):
        return None
    login = basic_login(value, auth.basic_users or {})
    if login is None:
        return _basic_refusal(options)
    user, hashed, password = login
    matched = htpasswd.known(hashed, password)
    if matched is None:
        pending = htpasswd.start_check(hashed, password)
        return _BUSY if pending is None else (user, pending)
    if not matched:
        return _basic_refusal(options)
    identity["basicAuth"] = {"username": user}
    return None


async def _after_password(
    exchange: Exchange,
    auth: RouteAuth,
    settings: HttpSettings,
    identity: Identity,
    user: str,
    pending: PendingCheck,
) -> Verdict:
    """The hold's first step: the password's answer, then the filters after basic_auth."""
    if not await pending.matched():
        return _basic_refusal(auth.options)
    identity["basicAuth"] = {"username": user}
    return _after_basic(exchange, auth, settings, identity) or _ALLOWED


def _basic_refusal(options: AuthOptions) -> Verdict:
    challenge = options.basic_challenge
    extra = [(b"www-authenticate", challenge)] if challenge is not None else None
    return Verdict(401, extra, BASIC_DENIED_BODY)


def _after_basic(
    exchange: Exchange, auth: RouteAuth, settings: HttpSettings, identity: Identity
) -> Verdict | None:
    """api_key_auth and authorization; the refusal, or None with ``exchange.identity`` set."""
    filters = settings.auth_filters
    keys = auth.api_keys if API_KEY_AUTH_FILTER in filters else None
    if keys is not None:
        refusal = _api_key(auth, keys, exchange.head, identity)
        if refusal is not None:
            return refusal
    if (
        auth.authorization
        and AUTHORIZATION_FILTER in filters
        and not is_allowed(auth.authorization, exchange_variables(exchange, identity))
    ):
        return _DENIED
    exchange.identity = identity
    return None


def _api_key(
    auth: RouteAuth, keys: ApiKeys, head: RequestHead, identity: Identity
) -> Verdict | None:
    """The refusal, if any; Optional mode lets a request without a key through."""
    key = api_key(head, keys)
    if key is None and auth.options.api_key_optional:
        return None
    if key and auth.options.api_key_sha256:
        key = hashlib.sha256(key).hexdigest().encode()
    client = keys.clients.get(key.decode("latin-1")) if key else None
    if client is None:
        return Verdict(401, body=API_KEY_DENIED_BODY)
    metadata = auth.options.api_key_metadata.get(client, {})
    identity["apiKey"] = {"client": client, "metadata": metadata}
    return None


def api_key(head: RequestHead, keys: ApiKeys) -> bytes | None:
    """The key the request carries, if any."""
    key: bytes | None = None
    for name in keys.headers:
        value = next((v for n, v in head.headers if n == name), None)
        if value:
            key = value[7:] if value.startswith(b"Bearer ") else value
            break
    if not key:
        key = next(filter(None, (head.query_param(q) for q in keys.queries)), None)
    return key or None


def basic_login(
    value: bytes | None, users: Mapping[str, PasswordHash]
) -> tuple[str, PasswordHash, bytes] | None:
    """The known user ``value`` (an Authorization header) names, their hash and the password
    it carries (not yet verified)."""
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
    return user, expected, password.encode("utf-8")


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
