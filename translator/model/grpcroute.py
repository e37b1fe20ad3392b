"""GRPCRoute (gateway.networking.k8s.io/v1, experimental channel fields included)."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, ClassVar

from pydantic import Field, StringConstraints, field_validator, model_validator

from translator.model.filters import GRPCRouteFilter, check_grpc_filters
from translator.model.meta import Model, Resource, first_duplicate, violation
from translator.model.shared import (
    GATEWAY_GROUP,
    BackendRef,
    CommonRouteSpec,
    HeaderMatchType,
    HeaderName,
    Hostname,
    SectionName,
    SessionPersistence,
    unique_rule_names,
)

_SERVICE_PATTERN = r"^(?i)\.?[a-z_][a-z_0-9]*(\.[a-z_][a-z_0-9]*)*$"
_METHOD_PATTERN = r"^[A-Za-z_][A-Za-z_0-9]*$"
_SERVICE = re.compile(r"\.?[a-z_][a-z_0-9]*(\.[a-z_][a-z_0-9]*)*", re.IGNORECASE)
_METHOD = re.compile(_METHOD_PATTERN)

GRPCName = Annotated[str, StringConstraints(max_length=1024)]


class GRPCMethodMatchType(StrEnum):
    EXACT = "Exact"
    REGULAR_EXPRESSION = "RegularExpression"


class GRPCMethodMatch(Model):
    type: GRPCMethodMatchType = GRPCMethodMatchType.EXACT
    service: GRPCName | None = None
    method: GRPCName | None = None

    @model_validator(mode="after")
    def _names_something(self) -> GRPCMethodMatch:
        if self.service is None and self.method is None:
            raise violation("One or both of 'service' or 'method' must be specified")
        return self

    @model_validator(mode="after")
    def _exact_names_are_identifiers(self) -> GRPCMethodMatch:
        if self.type is not GRPCMethodMatchType.EXACT:
            return self
        if self.service is not None and not _SERVICE.fullmatch(self.service):
            raise violation(
                f"service must only contain valid characters (matching {_SERVICE_PATTERN})"
            )
        if self.method is not None and not _METHOD.fullmatch(self.method):
            raise violation(
                f"method must only contain valid characters (matching {_METHOD_PATTERN})"
            )
        return self


class GRPCHeaderMatch(Model):
    type: HeaderMatchType = HeaderMatchType.EXACT
    name: HeaderName
    value: Annotated[str, StringConstraints(min_length=1, max_length=4096)]


class GRPCRouteMatch(Model):
    method: GRPCMethodMatch | None = None
    headers: tuple[GRPCHeaderMatch, ...] = Field(default=(), max_length=16)

    @field_validator("headers")
    @classmethod
    def _header_names_unique(
        cls, headers: tuple[GRPCHeaderMatch, ...]
    ) -> tuple[GRPCHeaderMatch, ...]:
        duplicate = first_duplicate(header.name for header in headers)
        if duplicate is not None:
            raise violation(f"duplicate entry with name {duplicate!r}")
        return headers


class GRPCBackendRef(BackendRef):
    filters: tuple[GRPCRouteFilter, ...] = Field(default=(), max_length=16)

    @field_validator("filters")
    @classmethod
    def _filters_compatible(
        cls, filters: tuple[GRPCRouteFilter, ...]
    ) -> tuple[GRPCRouteFilter, ...]:
        return check_grpc_filters(filters)


class GRPCRouteRule(Model):
    name: SectionName | None = None
    # No CRD default: a rule without matches matches every gRPC request.
    matches: tuple[GRPCRouteMatch, ...] = Field(default=(), max_length=8)
    filters: tuple[GRPCRouteFilter, ...] = Field(default=(), max_length=16)
    backend_refs: tuple[GRPCBackendRef, ...] = Field(default=(), max_length=16)
    session_persistence: SessionPersistence | None = None

    @field_validator("filters")
    @classmethod
    def _filters_compatible(
        cls, filters: tuple[GRPCRouteFilter, ...]
    ) -> tuple[GRPCRouteFilter, ...]:
        return check_grpc_filters(filters)


class GRPCRouteSpec(CommonRouteSpec):
    hostnames: tuple[Hostname, ...] = Field(default=(), max_length=16)
    rules: tuple[GRPCRouteRule, ...] = Field(default=(), max_length=16)

    @field_validator("rules")
    @classmethod
    def _rules_bounded(cls, rules: tuple[GRPCRouteRule, ...]) -> tuple[GRPCRouteRule, ...]:
        if sum(len(rule.matches) for rule in rules) > 128:
            raise violation(
                "While 16 rules and 64 matches per rule are allowed, the total number of "
                "matches across all rules in a route must be less than 128"
            )
        return unique_rule_names(rules)


class GRPCRoute(Resource):
    GROUP: ClassVar[str] = GATEWAY_GROUP
    KIND: ClassVar[str] = "GRPCRoute"

    spec: GRPCRouteSpec
