"""The ``traffic`` section of an AgentgatewayPolicy: what happens to a request on its way
through a route (header changes, CEL transformations, CORS, CSRF, timeouts, retries, direct
responses, authentication, authorization, rate limits, buffering).

Also home of what the policy models share: ``PolicyModel`` (documented fields, one-of rules
declared once for both pydantic and the CRD) and ``CELExpression``.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, ClassVar

from pydantic import ConfigDict, Field, StringConstraints, model_validator

from translator.model.duration import Duration
from translator.model.filters import CORS
from translator.model.meta import Model, violation
from translator.model.shared import (
    BackendObjectReference,
    HeaderModifier,
    HeaderName,
    LabelKey,
    LabelValue,
    ObjectName,
)

CELExpression = Annotated[str, StringConstraints(min_length=1, max_length=16384, pattern=r"\S")]
"""A Common Expression Language expression, evaluated by the data plane per request."""
ShortString = Annotated[str, StringConstraints(max_length=256)]
TinyString = Annotated[str, StringConstraints(min_length=1, max_length=64)]


def _is_set(value: Any) -> bool:
    return value is not None and value != () and value != {}


def _has(field: str) -> str:
    return f"has(self.{field})"


def _schema_rules(schema: dict[str, Any], cls: type[PolicyModel]) -> None:
    rules = (
        [{"rule": rule, "message": message} for rule, message in cls.CEL_RULES]
        + [
            {
                "rule": f"[{', '.join(_has(f) for f in group)}].filter(x, x).size() == 1",
                "message": f"set exactly one of {', '.join(group)}",
            }
            for group in cls.EXACTLY_ONE
        ]
        + [
            {
                "rule": f"[{', '.join(_has(f) for f in group)}].filter(x, x).size() <= 1",
                "message": f"set at most one of {', '.join(group)}",
            }
            for group in cls.AT_MOST_ONE
        ]
    )
    if rules:
        schema["x-kubernetes-validations"] = rules


class PolicyModel(Model):
    """Fields documented by their docstrings (the CRD's descriptions); ``EXACTLY_ONE`` and
    ``AT_MOST_ONE`` name JSON fields of which one (at most one) may be set, checked here and
    written into the CRD as CEL rules, so both sources reject the same objects."""

    model_config = ConfigDict(use_attribute_docstrings=True, json_schema_extra=_schema_rules)
    EXACTLY_ONE: ClassVar[tuple[tuple[str, ...], ...]] = ()
    AT_MOST_ONE: ClassVar[tuple[tuple[str, ...], ...]] = ()
    CEL_RULES: ClassVar[tuple[tuple[str, str], ...]] = ()

    @model_validator(mode="after")
    def _one_of(self) -> PolicyModel:
        by_alias = {(f.alias or name): name for name, f in type(self).model_fields.items()}
        for group, exact in [(g, True) for g in self.EXACTLY_ONE] + [
            (g, False) for g in self.AT_MOST_ONE
        ]:
            count = sum(_is_set(getattr(self, by_alias[name])) for name in group)
            if count > 1 or (exact and count == 0):
                what = "exactly" if exact else "at most"
                raise violation(f"set {what} one of {', '.join(group)}")
        return self


class HeaderModifiers(PolicyModel):
    request: HeaderModifier | None = None
    """Changes to the request headers before the backend sees them."""
    response: HeaderModifier | None = None
    """Changes to the response headers before the client sees them."""


class HeaderTransformation(PolicyModel):
    name: HeaderName
    """The header to write."""
    value: CELExpression
    """A CEL expression whose result becomes the header's value."""


class Transform(PolicyModel):
    set: tuple[HeaderTransformation, ...] = Field(default=(), max_length=16)
    """Headers replaced by the result of an expression."""
    add: tuple[HeaderTransformation, ...] = Field(default=(), max_length=16)
    """Headers appended with the result of an expression."""
    remove: tuple[HeaderName, ...] = Field(default=(), max_length=16)
    """Headers removed."""
    body: CELExpression | None = None
    """A CEL expression whose result replaces the body."""
    metadata: dict[TinyString, CELExpression] = Field(default_factory=dict, max_length=16)
    """Values computed once and available to later expressions as ``metadata.<name>``."""


class Transformation(PolicyModel):
    request: Transform | None = None
    """Transformation of the request."""
    response: Transform | None = None
    """Transformation of the response."""


class Csrf(PolicyModel):
    additional_origins: tuple[ShortString, ...] = Field(default=(), max_length=16)
    """Origins (scheme://host[:port]) allowed besides the request's own."""


class Timeouts(PolicyModel):
    request: Duration | None = None
    """Time from the start of the request to the end of the response; 0s disables it."""
    backend_request: Duration | None = None
    """Time for one attempt to the backend."""


class Retry(PolicyModel):
    attempts: Annotated[int, Field(ge=0, le=100)] = 1
    """Retries after the first attempt."""
    backoff: Duration | None = None
    """Base interval of the exponential backoff between attempts."""
    codes: tuple[Annotated[int, Field(ge=400, le=599)], ...] = Field(default=(), max_length=32)
    """Response status codes that are retried."""
    precondition: CELExpression | None = None
    """Only requests for which this expression is true are retried at all."""
    condition: CELExpression | None = None
    """A response (or failure) for which this expression is true is retried."""


class DirectResponse(PolicyModel):
    status: Annotated[int, Field(ge=200, le=599)]
    """The status code of the response."""
    body: Annotated[str, StringConstraints(max_length=4096)] | None = None
    """The body of the response."""


class HostRewriteMode(StrEnum):
    AUTO = "Auto"
    NONE = "None"


class HostRewrite(PolicyModel):
    mode: HostRewriteMode
    """Auto sets Host from the destination; None passes the client's Host through."""


class FailureMode(StrEnum):
    FAIL_OPEN = "FailOpen"
    FAIL_CLOSED = "FailClosed"


class ExtAuthGrpc(PolicyModel):
    context_extensions: dict[TinyString, ShortString] = Field(default_factory=dict, max_length=64)
    """Extra key-value pairs sent to the authorization server."""


class ExtAuthHttp(PolicyModel):
    path: Annotated[str, StringConstraints(max_length=1024, pattern=r"^/")] | None = None
    """Path prefix of the check request; the request's path is appended."""
    allowed_request_headers: tuple[HeaderName, ...] = Field(default=(), max_length=64)
    """Client request headers forwarded to the authorization server."""
    allowed_response_headers: tuple[HeaderName, ...] = Field(default=(), max_length=64)
    """Authorization response headers copied onto the request sent upstream."""


class ExtAuthBody(PolicyModel):
    max_size: Annotated[int, Field(ge=1)]
    """Largest body, in bytes, buffered and sent along; larger requests are refused."""


class ExtAuth(PolicyModel):
    AT_MOST_ONE = (("grpc", "http"),)

    backend_ref: BackendObjectReference
    """The authorization server."""
    grpc: ExtAuthGrpc | None = None
    """Speak Envoy's ext_authz gRPC protocol (the default)."""
    http: ExtAuthHttp | None = None
    """Speak plain HTTP: a 2xx answer allows the request."""
    failure_mode: FailureMode = FailureMode.FAIL_CLOSED
    """What to do when the server cannot be reached."""
    forward_body: ExtAuthBody | None = None
    """Buffer the request body and send it to the server."""


class JwtMode(StrEnum):
    STRICT = "Strict"
    OPTIONAL = "Optional"
    PERMISSIVE = "Permissive"


class RemoteJwks(PolicyModel):
    backend_ref: BackendObjectReference
    """The server that publishes the key set."""
    path: Annotated[str, StringConstraints(max_length=1024, pattern=r"^/")] = "/"
    """Path of the key set on that server."""
    cache_duration: Duration = "5m"
    """How long a fetched key set is used before it is fetched again."""


class Jwks(PolicyModel):
    EXACTLY_ONE = (("remote", "inline"),)

    remote: RemoteJwks | None = None
    """Fetch the JSON Web Key Set from a server."""
    inline: Annotated[str, StringConstraints(min_length=2, max_length=65536)] | None = None
    """The JSON Web Key Set itself."""


class TokenLocation(PolicyModel):
    EXACTLY_ONE = (("header", "queryParameter", "cookie"),)

    header: HeaderName | None = None
    """A request header holding the token."""
    prefix: ShortString | None = None
    """Text before the token in the header, such as "Bearer "."""
    query_parameter: TinyString | None = None
    """A query parameter holding the token."""
    cookie: TinyString | None = None
    """A cookie holding the token."""


class JwtProvider(PolicyModel):
    issuer: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    """The token's iss claim."""
    audiences: tuple[ShortString, ...] = Field(default=(), max_length=64)
    """Accepted aud claims; any audience when empty."""
    jwks: Jwks
    """The keys that sign this issuer's tokens."""
    token_locations: tuple[TokenLocation, ...] = Field(default=(), max_length=8)
    """Where to find the token; the Authorization bearer header when empty."""


class JwtAuthentication(PolicyModel):
    mode: JwtMode = JwtMode.STRICT
    """Strict requires a valid token; Optional validates one if present; Permissive never
    rejects. Claims are available to CEL as ``jwt``."""
    providers: tuple[JwtProvider, ...] = Field(min_length=1, max_length=64)
    """The accepted token issuers."""


class AuthMode(StrEnum):
    STRICT = "Strict"
    OPTIONAL = "Optional"


class BasicAuthentication(PolicyModel):
    EXACTLY_ONE = (("users", "secretRef"),)

    mode: AuthMode = AuthMode.STRICT
    """Strict requires valid credentials; Optional checks them if present."""
    realm: ShortString | None = None
    """The realm in WWW-Authenticate challenges."""
    users: tuple[Annotated[str, StringConstraints(pattern=r"^[^:]+:.+$")], ...] = Field(
        default=(), max_length=256
    )
    """htpasswd lines: user:hash."""
    secret_ref: ObjectName | None = None
    """A Secret whose ``.htaccess`` key holds htpasswd lines."""


class SecretSelector(PolicyModel):
    match_labels: dict[LabelKey, LabelValue] = Field(min_length=1)
    """Labels of the Secrets selected."""


class KeyHash(StrEnum):
    SHA256 = "SHA256"


class ApiKeyAuthentication(PolicyModel):
    EXACTLY_ONE = (("secretRef", "secretSelector"),)

    mode: AuthMode = AuthMode.STRICT
    """Strict requires a valid key; Optional checks one if present."""
    secret_ref: ObjectName | None = None
    """A Secret whose entries are keys (or JSON {key, metadata}); metadata is ``apiKey`` in
    CEL."""
    secret_selector: SecretSelector | None = None
    """Secrets selected by label, each holding keys as secretRef does."""
    key_hash: KeyHash | None = None
    """The Secrets hold hex digests of the keys rather than the keys."""


class AuthorizationAction(StrEnum):
    ALLOW = "Allow"
    DENY = "Deny"
    REQUIRE = "Require"


class AuthorizationPolicy(PolicyModel):
    match_expressions: tuple[CELExpression, ...] = Field(min_length=1, max_length=64)
    """CEL expressions; a request matches when any of them is true."""


class Authorization(PolicyModel):
    action: AuthorizationAction = AuthorizationAction.ALLOW
    """Allow: matching requests are allowed (others denied when any Allow rule exists);
    Deny: matching requests are denied; Require: non-matching requests are denied."""
    policy: AuthorizationPolicy
    """The expressions."""


class RateLimitUnit(StrEnum):
    SECONDS = "Seconds"
    MINUTES = "Minutes"
    HOURS = "Hours"


class LocalRateLimit(PolicyModel):
    requests: Annotated[int, Field(ge=1)]
    """Requests allowed per unit of time, per proxy; the rest answer 429."""
    unit: RateLimitUnit
    """The unit of time."""
    burst: Annotated[int, Field(ge=0)] | None = None
    """Requests allowed above the rate in a short burst."""


class DescriptorEntry(PolicyModel):
    name: TinyString
    """The descriptor key."""
    expression: CELExpression
    """A CEL expression whose result is the descriptor value."""


class RateLimitDescriptor(PolicyModel):
    entries: tuple[DescriptorEntry, ...] = Field(min_length=1, max_length=16)
    """The entries of this descriptor."""


class GlobalRateLimit(PolicyModel):
    backend_ref: BackendObjectReference
    """The rate limit service (Envoy's rls protocol)."""
    domain: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    """The domain the service keys limits under."""
    descriptors: tuple[RateLimitDescriptor, ...] = Field(min_length=1, max_length=16)
    """The descriptors sent with each request."""
    failure_mode: FailureMode = FailureMode.FAIL_OPEN
    """What to do when the service cannot be reached."""


class RateLimit(PolicyModel):
    local: tuple[LocalRateLimit, ...] = Field(default=(), max_length=16)
    """Token buckets kept by each proxy."""
    global_: GlobalRateLimit | None = Field(default=None, alias="global")
    """Limits kept by a rate limit service shared by every proxy."""


class Buffer(PolicyModel):
    max_request_size: Annotated[int, Field(ge=1)]
    """Buffer whole request bodies up to this many bytes; larger ones answer 413."""


class Traffic(PolicyModel):
    """Settings for requests through a route. Fields merge one by one: the most specific
    policy (Gateway < listener < route < rule) sets a field, except that an Override policy
    keeps the fields it sets; authorization rules from every level apply together."""

    header_modifiers: HeaderModifiers | None = None
    """Fixed header changes."""
    transformation: Transformation | None = None
    """Header, body and metadata changes computed by CEL expressions."""
    cors: CORS | None = None
    """Cross-origin resource sharing; the gateway answers preflights."""
    csrf: Csrf | None = None
    """Cross-site request forgery protection for unsafe methods."""
    timeouts: Timeouts | None = None
    """Request timeouts."""
    retry: Retry | None = None
    """Retries of failed requests."""
    direct_response: DirectResponse | None = None
    """Answer every request with a fixed response instead of forwarding it."""
    host_rewrite: HostRewrite | None = None
    """How the Host header sent upstream is chosen."""
    ext_auth: ExtAuth | None = None
    """Ask an external server whether to allow each request."""
    jwt_authentication: JwtAuthentication | None = Field(default=None, alias="jwtAuthentication")
    """Authenticate requests by JSON Web Token."""
    basic_authentication: BasicAuthentication | None = None
    """Authenticate requests by user and password (RFC 7617)."""
    api_key_authentication: ApiKeyAuthentication | None = Field(
        default=None, alias="apiKeyAuthentication"
    )
    """Authenticate requests by API key."""
    authorization: Authorization | None = None
    """Allow or deny requests by CEL expression."""
    rate_limit: RateLimit | None = None
    """Local and global rate limits."""
    buffer: Buffer | None = None
    """Buffer request bodies."""
