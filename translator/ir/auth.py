"""Request authentication, CEL authorization and CEL transformation of one route, from
AgentgatewayPolicy ``traffic`` settings (translator.gatewayapi.policy.auth).

JWT, basic and API-key authentication are Envoy's jwt_authn, basic_auth and api_key_auth
filters, which both data planes run. Authorization
and transformation are agw's own HTTP filters (typed configs from proto/), which only the agw
proxy runs; stage 1 leaves them out for gateways served by Envoy."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from translator.ir.policy import AuthorizationRule

# HTTP filter names, in the order they run in a connection manager's chain.
JWT_AUTHN_FILTER = "envoy.filters.http.jwt_authn"
BASIC_AUTH_FILTER = "envoy.filters.http.basic_auth"
API_KEY_AUTH_FILTER = "envoy.filters.http.api_key_auth"
AUTHORIZATION_FILTER = "agw.filters.http.authorization"
# Envoy's RBAC filter twice, for Gateways Envoy serves: Deny rules, then Require and Allow rules.
RBAC_DENY_FILTER = "envoy.filters.http.rbac/deny"
RBAC_ALLOW_FILTER = "envoy.filters.http.rbac/allow"
TRANSFORMATION_FILTER = "agw.filters.http.transformation"
AUTH_FILTERS = (
    JWT_AUTHN_FILTER,
    BASIC_AUTH_FILTER,
    API_KEY_AUTH_FILTER,
    AUTHORIZATION_FILTER,
    RBAC_DENY_FILTER,
    RBAC_ALLOW_FILTER,
    TRANSFORMATION_FILTER,
)
# Filters only the agw proxy has.
AGW_ONLY_FILTERS = frozenset({AUTHORIZATION_FILTER, TRANSFORMATION_FILTER})
# The per-route key of ``AuthOptions``: no filter of its own, the agw proxy reads it beside
# basic_auth's and api_key_auth's per-route settings.
AUTH_OPTIONS_KEY = "agw.filters.http.auth_options"


# An htpasswd line nobody matches (the SHA-1 of it would be twenty zero bytes): where a user
# list must not be empty and must let nobody in.
NOBODY = "-:{SHA}AAAAAAAAAAAAAAAAAAAAAAAAAAA="


@dataclass(frozen=True, slots=True)
class BasicAuth:
    """Users allowed, as htpasswd lines ``user:{SHA}<base64 SHA-1>`` (the one hash Envoy's
    filter verifies); requests without valid credentials answer 401."""

    users: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RemoteJwks:
    """A key set fetched over HTTP from ``cluster`` at ``uri`` (its host names the Service),
    used for ``cache_duration_seconds`` before it is fetched again."""

    cluster: str
    uri: str
    cache_duration_seconds: float


@dataclass(frozen=True, slots=True)
class JwtProvider:
    """One accepted issuer. No token location means the Authorization bearer header (and the
    ``access_token`` query parameter), as Envoy reads by default."""

    name: str
    issuer: str
    # Accepted aud claims; any when empty.
    audiences: tuple[str, ...]
    # The JSON Web Key Set, inline; empty when ``remote`` is set.
    jwks: str
    # (header, value prefix)
    headers: tuple[tuple[str, str], ...] = ()
    params: tuple[str, ...] = ()
    cookies: tuple[str, ...] = ()
    remote: RemoteJwks | None = None


class JwtMode(StrEnum):
    # A valid token from one of the providers is required.
    STRICT = "Strict"
    # No token is fine; a token must be valid.
    OPTIONAL = "Optional"
    # Never rejects; a valid token's claims are still available.
    PERMISSIVE = "Permissive"


@dataclass(frozen=True, slots=True)
class JwtAuthn:
    """A route's JWT requirement, named after the policy that set it. No providers: nothing
    validates, so Strict and Optional refuse every token."""

    name: str
    mode: JwtMode
    providers: tuple[JwtProvider, ...]


@dataclass(frozen=True, slots=True)
class ApiKeyAuth:
    """Keys allowed, each with the client it identifies, sorted by client; the key comes in
    ``Authorization: Bearer <key>``. Missing or unknown keys answer 401. Empty: nobody."""

    credentials: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class AuthOptions:
    """What basic and API-key authentication set that Envoy's filters have no field for; only
    on gateways the agw proxy serves."""

    # No credentials pass; wrong ones are still refused.
    basic_optional: bool = False
    # WWW-Authenticate: Basic realm="..." on a refusal; none when empty.
    basic_realm: str = ""
    api_key_optional: bool = False
    # client -> its key's metadata as a JSON object, sorted by client; CEL's apiKey.metadata.
    api_key_metadata: tuple[tuple[str, str], ...] = ()
    # The credentials' keys are hex SHA-256 digests of the keys clients present.
    api_key_sha256: bool = False


@dataclass(frozen=True, slots=True)
class HeaderExpression:
    # Lower-case header name.
    name: str
    # CEL; the value, as a string, becomes the header's value.
    expression: str


@dataclass(frozen=True, slots=True)
class CelTransform:
    set: tuple[HeaderExpression, ...] = ()
    add: tuple[HeaderExpression, ...] = ()
    remove: tuple[str, ...] = ()
    # name -> CEL, sorted by name; visible to the header expressions as ``metadata.<name>``.
    metadata: tuple[tuple[str, str], ...] = ()
    # CEL whose value replaces the body; None leaves the body alone.
    body: str | None = None


@dataclass(frozen=True, slots=True)
class CelTransformation:
    """Response expressions also see ``response`` (status and headers), evaluated when the
    response head is known."""

    request: CelTransform | None = None
    response: CelTransform | None = None


@dataclass(frozen=True, slots=True)
class RouteAuth:
    # Every level's rules, least specific first.
    authorization: tuple[AuthorizationRule, ...] = ()
    transformation: CelTransformation | None = None
    jwt: JwtAuthn | None = None
    basic_auth: BasicAuth | None = None
    api_key_auth: ApiKeyAuth | None = None
    # The rules Envoy's RBAC filter enforces, on Gateways Envoy serves (``authorization`` is
    # then empty): those whose every expression converts to Envoy's CEL.
    envoy_authorization: tuple[AuthorizationRule, ...] = ()
    options: AuthOptions | None = None

    def filters(self) -> tuple[str, ...]:
        """The HTTP filters this route configures, in ``AUTH_FILTERS`` order."""
        used = {
            JWT_AUTHN_FILTER: self.jwt is not None,
            BASIC_AUTH_FILTER: self.basic_auth is not None,
            API_KEY_AUTH_FILTER: self.api_key_auth is not None,
            AUTHORIZATION_FILTER: bool(self.authorization),
            RBAC_DENY_FILTER: any(r.action == "Deny" for r in self.envoy_authorization),
            RBAC_ALLOW_FILTER: any(r.action != "Deny" for r in self.envoy_authorization),
            TRANSFORMATION_FILTER: self.transformation is not None,
        }
        return tuple(name for name in AUTH_FILTERS if used[name])
