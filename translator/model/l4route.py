"""TLSRoute, TCPRoute and UDPRoute: routes that forward streams or datagrams, not requests.

TLSRoute and TCPRoute are served as v1 (standard) and as the older alpha versions, whose
schemas are looser; the v1-only limits are checked on the top-level object, which knows its
apiVersion. UDPRoute is v1alpha2 only.
"""

from __future__ import annotations

import ipaddress
from typing import ClassVar

from pydantic import Field, field_validator, model_validator

from translator.model.meta import Model, Resource, violation
from translator.model.shared import (
    GATEWAY_GROUP,
    BackendRef,
    CommonRouteSpec,
    Hostname,
    SectionName,
    unique_rule_names,
)


def _is_v1(api_version: str) -> bool:
    return api_version.endswith("/v1")


class L4RouteRule(Model):
    name: SectionName | None = None
    backend_refs: tuple[BackendRef, ...] = Field(min_length=1, max_length=16)


class L4RouteSpec(CommonRouteSpec):
    rules: tuple[L4RouteRule, ...] = Field(min_length=1, max_length=16)

    @field_validator("rules")
    @classmethod
    def _rule_names_unique(cls, rules: tuple[L4RouteRule, ...]) -> tuple[L4RouteRule, ...]:
        return unique_rule_names(rules)


class TLSRouteSpec(L4RouteSpec):
    hostnames: tuple[Hostname, ...] = Field(default=(), max_length=1024)

    @field_validator("hostnames")
    @classmethod
    def _hostnames_are_not_ips(cls, hostnames: tuple[str, ...]) -> tuple[str, ...]:
        for hostname in hostnames:
            try:
                ipaddress.ip_address(hostname)
            except ValueError:
                continue
            raise violation(f"Hostnames cannot contain an IP: {hostname!r}")
        return hostnames


class TLSRoute(Resource):
    GROUP: ClassVar[str] = GATEWAY_GROUP
    KIND: ClassVar[str] = "TLSRoute"

    spec: TLSRouteSpec

    @model_validator(mode="after")
    def _v1_limits(self) -> TLSRoute:
        if _is_v1(self.api_version) and not self.spec.hostnames:
            raise violation("spec.hostnames: a v1 TLSRoute needs at least 1 hostname")
        if _is_v1(self.api_version) and len(self.spec.rules) > 1:
            raise violation("spec.rules: a v1 TLSRoute has at most 1 rule")
        return self


class TCPRoute(Resource):
    GROUP: ClassVar[str] = GATEWAY_GROUP
    KIND: ClassVar[str] = "TCPRoute"

    spec: L4RouteSpec

    @model_validator(mode="after")
    def _v1_limits(self) -> TCPRoute:
        if _is_v1(self.api_version) and len(self.spec.rules) > 1:
            raise violation("spec.rules: a v1 TCPRoute has at most 1 rule")
        return self


class UDPRoute(Resource):
    GROUP: ClassVar[str] = GATEWAY_GROUP
    KIND: ClassVar[str] = "UDPRoute"

    spec: L4RouteSpec
