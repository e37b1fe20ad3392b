"""HTTPRoute (gateway.networking.k8s.io/v1, experimental channel fields included)."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import ClassVar

from pydantic import Field, field_validator, model_validator

from translator.model.duration import Duration, parse_duration
from translator.model.filters import (
    PATH_CHARACTERS_PATTERN,
    HTTPRouteFilter,
    PathValue,
    RequestRedirectFilter,
    check_http_filters,
    prefix_replacing_types,
)
from translator.model.meta import Model, Resource, first_duplicate, violation
from translator.model.shared import (
    GATEWAY_GROUP,
    BackendRef,
    CommonRouteSpec,
    Hostname,
    HTTPHeaderMatch,
    HTTPQueryParamMatch,
    SectionName,
    SessionPersistence,
    unique_names,
    unique_rule_names,
)

_PATH_CHARACTERS = re.compile(PATH_CHARACTERS_PATTERN)
# The CRD's CEL rules on Exact and PathPrefix values keep paths free of traversal tricks.
_FORBIDDEN_IN_PATH = ("//", "/./", "/../", "%2f", "%2F", "#")
_FORBIDDEN_PATH_ENDINGS = ("/..", "/.")


class PathMatchType(StrEnum):
    EXACT = "Exact"
    PATH_PREFIX = "PathPrefix"
    REGULAR_EXPRESSION = "RegularExpression"


class HTTPMethod(StrEnum):
    GET = "GET"
    HEAD = "HEAD"
    POST = "POST"
    PUT = "PUT"
    DELETE = "DELETE"
    CONNECT = "CONNECT"
    OPTIONS = "OPTIONS"
    TRACE = "TRACE"
    PATCH = "PATCH"


class HTTPPathMatch(Model):
    type: PathMatchType = PathMatchType.PATH_PREFIX
    value: PathValue = "/"

    @model_validator(mode="after")
    def _path_is_clean(self) -> HTTPPathMatch:
        if self.type is PathMatchType.REGULAR_EXPRESSION or self.value == "/":
            return self
        kinds = "when type one of ['Exact', 'PathPrefix']"
        if not self.value.startswith("/"):
            raise violation(f"value must be an absolute path and start with '/' {kinds}")
        for forbidden in _FORBIDDEN_IN_PATH:
            if forbidden in self.value:
                raise violation(f"must not contain {forbidden!r} {kinds}")
        for ending in _FORBIDDEN_PATH_ENDINGS:
            if self.value.endswith(ending):
                raise violation(f"must not end with {ending!r} {kinds}")
        if not _PATH_CHARACTERS.fullmatch(self.value):
            raise violation(
                f"must only contain valid characters (matching {PATH_CHARACTERS_PATTERN}) "
                "for types ['Exact', 'PathPrefix']"
            )
        return self


class HTTPRouteMatch(Model):
    path: HTTPPathMatch = HTTPPathMatch()
    headers: tuple[HTTPHeaderMatch, ...] = Field(default=(), max_length=16)
    query_params: tuple[HTTPQueryParamMatch, ...] = Field(default=(), max_length=16)
    method: HTTPMethod | None = None

    @field_validator("headers")
    @classmethod
    def _header_names_unique(
        cls, headers: tuple[HTTPHeaderMatch, ...]
    ) -> tuple[HTTPHeaderMatch, ...]:
        return unique_names(headers)

    @field_validator("query_params")
    @classmethod
    def _param_names_unique(
        cls, params: tuple[HTTPQueryParamMatch, ...]
    ) -> tuple[HTTPQueryParamMatch, ...]:
        return unique_names(params)


class HTTPBackendRef(BackendRef):
    filters: tuple[HTTPRouteFilter, ...] = Field(default=(), max_length=16)

    @field_validator("filters")
    @classmethod
    def _filters_compatible(
        cls, filters: tuple[HTTPRouteFilter, ...]
    ) -> tuple[HTTPRouteFilter, ...]:
        return check_http_filters(filters)


class HTTPRouteTimeouts(Model):
    request: Duration | None = None
    backend_request: Duration | None = None

    @model_validator(mode="after")
    def _backend_within_request(self) -> HTTPRouteTimeouts:
        if self.request is None or self.backend_request is None:
            return self
        request = parse_duration(self.request)
        if request != 0 and parse_duration(self.backend_request) > request:
            raise violation("backendRequest timeout cannot be longer than request timeout")
        return self


class HTTPRouteRetry(Model):
    codes: tuple[int, ...] = ()
    attempts: int | None = None
    backoff: Duration | None = None

    @field_validator("codes")
    @classmethod
    def _codes_are_a_set_of_errors(cls, codes: tuple[int, ...]) -> tuple[int, ...]:
        for code in codes:
            if not 400 <= code <= 599:
                raise violation(f"retry code {code} must be between 400 and 599")
        duplicate = first_duplicate(codes)
        if duplicate is not None:
            raise violation(f"duplicate retry code {duplicate}")
        return codes


DEFAULT_MATCH = HTTPRouteMatch()


class HTTPRouteRule(Model):
    name: SectionName | None = None
    matches: tuple[HTTPRouteMatch, ...] = Field(default=(DEFAULT_MATCH,), max_length=64)
    filters: tuple[HTTPRouteFilter, ...] = Field(default=(), max_length=16)
    backend_refs: tuple[HTTPBackendRef, ...] = Field(default=(), max_length=16)
    timeouts: HTTPRouteTimeouts | None = None
    retry: HTTPRouteRetry | None = None
    session_persistence: SessionPersistence | None = None

    @field_validator("filters")
    @classmethod
    def _filters_compatible(
        cls, filters: tuple[HTTPRouteFilter, ...]
    ) -> tuple[HTTPRouteFilter, ...]:
        return check_http_filters(filters)

    @model_validator(mode="after")
    def _redirect_has_no_backends(self) -> HTTPRouteRule:
        redirects = any(isinstance(item, RequestRedirectFilter) for item in self.filters)
        if redirects and self.backend_refs:
            raise violation("RequestRedirect filter must not be used together with backendRefs")
        return self

    @model_validator(mode="after")
    def _prefix_replacement_has_one_prefix_match(self) -> HTTPRouteRule:
        if self._replaces_prefix() and not self._has_single_prefix_match():
            raise violation(
                "When using RequestRedirect or URLRewrite filter with path.replacePrefixMatch, "
                "exactly one PathPrefix match must be specified"
            )
        return self

    def _replaces_prefix(self) -> bool:
        if prefix_replacing_types(self.filters):
            return True
        if not any(ref.filters for ref in self.backend_refs):
            return False
        # The CRD checks backendRef filters with exists_one: exactly one backendRef per type.
        per_ref = [prefix_replacing_types(ref.filters) for ref in self.backend_refs]
        return any(
            sum(kind in types for types in per_ref) == 1
            for kind in ("RequestRedirect", "URLRewrite")
        )

    def _has_single_prefix_match(self) -> bool:
        return len(self.matches) == 1 and self.matches[0].path.type is PathMatchType.PATH_PREFIX


DEFAULT_RULE = HTTPRouteRule()
MAX_MATCHES_PER_ROUTE = 128


class HTTPRouteSpec(CommonRouteSpec):
    hostnames: tuple[Hostname, ...] = Field(default=(), max_length=16)
    rules: tuple[HTTPRouteRule, ...] = Field(default=(DEFAULT_RULE,), min_length=1, max_length=16)

    @field_validator("rules")
    @classmethod
    def _rules_bounded(cls, rules: tuple[HTTPRouteRule, ...]) -> tuple[HTTPRouteRule, ...]:
        if sum(len(rule.matches) for rule in rules) > MAX_MATCHES_PER_ROUTE:
            raise violation(
                "While 16 rules and 64 matches per rule are allowed, the total number of "
                "matches across all rules in a route must be less than 128"
            )
        return unique_rule_names(rules)


class HTTPRoute(Resource):
    GROUP: ClassVar[str] = GATEWAY_GROUP
    KIND: ClassVar[str] = "HTTPRoute"

    spec: HTTPRouteSpec
