"""HTTPRoute and GRPCRoute filters: discriminated unions on ``type``.

Each variant carries exactly the field its type names, so the CRD rules "filter.X must be
specified for X filter.type" and "filter.X must be nil if the filter.type is not X" become a
missing field or an extra field error at the filter's path.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, field_validator, model_validator

from translator.model.meta import Model, first_duplicate, violation
from translator.model.shared import (
    BackendObjectReference,
    HeaderModifier,
    HeaderName,
    LocalObjectReference,
    PortNumber,
    PreciseHostname,
)

PathValue = Annotated[str, StringConstraints(max_length=1024)]
# Characters allowed in Exact/PathPrefix paths; also the CRD pattern for ext-auth path prefixes.
PATH_CHARACTERS_PATTERN = r"^(?:[-A-Za-z0-9/._~!$&'()*+,;=:@]|[%][0-9a-fA-F]{2})+$"
CORS_ORIGIN_PATTERN = r"(^\*$)|(^([a-zA-Z][a-zA-Z0-9+\-.]+):\/\/([^:/?#]+)(:([0-9]{1,5}))?$)"


class PathModifierType(StrEnum):
    REPLACE_FULL_PATH = "ReplaceFullPath"
    REPLACE_PREFIX_MATCH = "ReplacePrefixMatch"


class PathModifier(Model):
    type: PathModifierType
    replace_full_path: PathValue | None = None
    replace_prefix_match: PathValue | None = None

    @model_validator(mode="after")
    def _type_matches_value(self) -> PathModifier:
        full = self.type is PathModifierType.REPLACE_FULL_PATH
        if full and self.replace_full_path is None:
            raise violation(
                "replaceFullPath must be specified when type is set to 'ReplaceFullPath'"
            )
        if not full and self.replace_full_path is not None:
            raise violation("type must be 'ReplaceFullPath' when replaceFullPath is set")
        if not full and self.replace_prefix_match is None:
            raise violation(
                "replacePrefixMatch must be specified when type is set to 'ReplacePrefixMatch'"
            )
        if full and self.replace_prefix_match is not None:
            raise violation("type must be 'ReplacePrefixMatch' when replacePrefixMatch is set")
        return self


class RequestRedirect(Model):
    scheme: Literal["http", "https"] | None = None
    hostname: PreciseHostname | None = None
    path: PathModifier | None = None
    port: PortNumber | None = None
    status_code: Literal[301, 302, 303, 307, 308] = 302


class URLRewrite(Model):
    hostname: PreciseHostname | None = None
    path: PathModifier | None = None


class Fraction(Model):
    numerator: Annotated[int, Field(ge=0)]
    denominator: Annotated[int, Field(ge=1)] = 100

    @model_validator(mode="after")
    def _at_most_one(self) -> Fraction:
        if self.numerator > self.denominator:
            raise violation("numerator must be less than or equal to denominator")
        return self


class RequestMirror(Model):
    backend_ref: BackendObjectReference
    percent: Annotated[int, Field(ge=0, le=100)] | None = None
    fraction: Fraction | None = None

    @model_validator(mode="after")
    def _percent_or_fraction(self) -> RequestMirror:
        if self.percent is not None and self.fraction is not None:
            raise violation(
                "Only one of percent or fraction may be specified in HTTPRequestMirrorFilter"
            )
        return self


CORSOrigin = Annotated[
    str, StringConstraints(min_length=1, max_length=253, pattern=CORS_ORIGIN_PATTERN)
]
CORSMethod = Literal[
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "*"
]


def _wildcard_alone(values: tuple[str, ...], what: str) -> tuple[str, ...]:
    duplicate = first_duplicate(values)
    if duplicate is not None:
        raise violation(f"duplicate value {duplicate!r}")
    if "*" in values and len(values) > 1:
        raise violation(f"{what} cannot contain '*' alongside other values")
    return values


class CORS(Model):
    allow_origins: tuple[CORSOrigin, ...] = Field(default=(), max_length=64)
    allow_credentials: bool | None = None
    allow_methods: tuple[CORSMethod, ...] = Field(default=(), max_length=9)
    allow_headers: tuple[HeaderName, ...] = Field(default=(), max_length=64)
    expose_headers: tuple[HeaderName, ...] = Field(default=(), max_length=64)
    max_age: Annotated[int, Field(ge=1)] = 5

    @field_validator("allow_origins")
    @classmethod
    def _origins(cls, origins: tuple[str, ...]) -> tuple[str, ...]:
        return _wildcard_alone(origins, "AllowOrigins")

    @field_validator("allow_methods")
    @classmethod
    def _methods(cls, methods: tuple[str, ...]) -> tuple[str, ...]:
        return _wildcard_alone(methods, "AllowMethods")

    @field_validator("allow_headers")
    @classmethod
    def _headers(cls, headers: tuple[str, ...]) -> tuple[str, ...]:
        return _wildcard_alone(headers, "AllowHeaders")

    @field_validator("expose_headers")
    @classmethod
    def _exposed(cls, headers: tuple[str, ...]) -> tuple[str, ...]:
        duplicate = first_duplicate(headers)
        if duplicate is not None:
            raise violation(f"duplicate value {duplicate!r}")
        return headers


class ExternalAuthProtocol(StrEnum):
    HTTP = "HTTP"
    GRPC = "GRPC"


HeaderList = Annotated[tuple[str, ...], Field(max_length=64)]


def _header_set(headers: tuple[str, ...]) -> tuple[str, ...]:
    duplicate = first_duplicate(headers)
    if duplicate is not None:
        raise violation(f"duplicate header name {duplicate!r}")
    return headers


class GRPCAuthConfig(Model):
    allowed_headers: HeaderList = ()

    @field_validator("allowed_headers")
    @classmethod
    def _headers_unique(cls, headers: tuple[str, ...]) -> tuple[str, ...]:
        return _header_set(headers)


class HTTPAuthConfig(Model):
    path: (
        Annotated[str, StringConstraints(max_length=1024, pattern=PATH_CHARACTERS_PATTERN)] | None
    ) = None
    allowed_headers: HeaderList = ()
    allowed_response_headers: HeaderList = ()

    @field_validator("allowed_headers", "allowed_response_headers")
    @classmethod
    def _headers_unique(cls, headers: tuple[str, ...]) -> tuple[str, ...]:
        return _header_set(headers)


class ForwardBody(Model):
    max_size: Annotated[int, Field(ge=0)] | None = None


class ExternalAuth(Model):
    protocol: ExternalAuthProtocol
    backend_ref: BackendObjectReference
    grpc: GRPCAuthConfig | None = None
    http: HTTPAuthConfig | None = None
    forward_body: ForwardBody | None = None

    @model_validator(mode="after")
    def _protocol_matches_config(self) -> ExternalAuth:
        grpc = self.protocol is ExternalAuthProtocol.GRPC
        if self.grpc is not None and not grpc:
            raise violation("protocol must be 'GRPC' when grpc is set")
        if self.http is not None and grpc:
            raise violation("protocol must be 'HTTP' when http is set")
        return self


class RequestHeaderModifierFilter(Model):
    type: Literal["RequestHeaderModifier"]
    request_header_modifier: HeaderModifier


class ResponseHeaderModifierFilter(Model):
    type: Literal["ResponseHeaderModifier"]
    response_header_modifier: HeaderModifier


class RequestMirrorFilter(Model):
    type: Literal["RequestMirror"]
    request_mirror: RequestMirror


class RequestRedirectFilter(Model):
    type: Literal["RequestRedirect"]
    request_redirect: RequestRedirect


class URLRewriteFilter(Model):
    type: Literal["URLRewrite"]
    url_rewrite: URLRewrite


class CORSFilter(Model):
    type: Literal["CORS"]
    cors: CORS


class ExternalAuthFilter(Model):
    type: Literal["ExternalAuth"]
    external_auth: ExternalAuth


class ExtensionRefFilter(Model):
    type: Literal["ExtensionRef"]
    extension_ref: LocalObjectReference


HTTPRouteFilter = Annotated[
    RequestHeaderModifierFilter
    | ResponseHeaderModifierFilter
    | RequestMirrorFilter
    | RequestRedirectFilter
    | URLRewriteFilter
    | CORSFilter
    | ExternalAuthFilter
    | ExtensionRefFilter,
    Field(discriminator="type"),
]
GRPCRouteFilter = Annotated[
    RequestHeaderModifierFilter
    | ResponseHeaderModifierFilter
    | RequestMirrorFilter
    | ExtensionRefFilter,
    Field(discriminator="type"),
]

# Filter types that may appear once per list; RequestMirror and ExtensionRef may repeat.
_HTTP_SINGLETONS = (
    "CORS",
    "RequestHeaderModifier",
    "ResponseHeaderModifier",
    "RequestRedirect",
    "URLRewrite",
)
_GRPC_SINGLETONS = ("RequestHeaderModifier", "ResponseHeaderModifier")


def _no_repeats(types: Sequence[str], singletons: tuple[str, ...]) -> None:
    for singleton in singletons:
        if types.count(singleton) > 1:
            raise violation(f"{singleton} filter cannot be repeated")


def check_http_filters(filters: tuple[HTTPRouteFilter, ...]) -> tuple[HTTPRouteFilter, ...]:
    if len(filters) < 2:
        return filters
    types = [item.type for item in filters]
    if "RequestRedirect" in types and "URLRewrite" in types:
        raise violation(
            "May specify either httpRouteFilterRequestRedirect or httpRouteFilterRequestRewrite, "
            "but not both"
        )
    _no_repeats(types, _HTTP_SINGLETONS)
    return filters


def check_grpc_filters(filters: tuple[GRPCRouteFilter, ...]) -> tuple[GRPCRouteFilter, ...]:
    if len(filters) < 2:
        return filters
    _no_repeats([item.type for item in filters], _GRPC_SINGLETONS)
    return filters


def prefix_replacing_types(filters: tuple[HTTPRouteFilter, ...]) -> frozenset[str]:
    """Which of RequestRedirect and URLRewrite use ReplacePrefixMatch among these filters."""
    found: set[str] = set()
    for item in filters:
        modifier = None
        if isinstance(item, RequestRedirectFilter):
            modifier = item.request_redirect.path
        elif isinstance(item, URLRewriteFilter):
            modifier = item.url_rewrite.path
        if modifier is not None and modifier.type is PathModifierType.REPLACE_PREFIX_MATCH:
            found.add(item.type)
    return frozenset(found)
