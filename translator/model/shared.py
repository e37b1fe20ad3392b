"""Types every route and the Gateway share: names, hostnames, references, header matching.

Patterns, lengths and defaults are those of the Gateway API v1.6 CRDs (experimental channel);
each CEL rule the API server would enforce is a small named validator here.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal, Protocol, TypeVar

from pydantic import Field, StringConstraints, field_validator, model_validator

from translator.model.duration import Duration
from translator.model.meta import Model, first_duplicate, violation

GATEWAY_GROUP = "gateway.networking.k8s.io"

_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_SUBDOMAIN = rf"{_LABEL}(\.{_LABEL})*"
HOSTNAME_PATTERN = rf"^(\*\.)?{_SUBDOMAIN}$"
PRECISE_HOSTNAME_PATTERN = rf"^{_SUBDOMAIN}$"
_QUALIFIED_NAME = rf"^({_SUBDOMAIN}/)?([A-Za-z0-9][-A-Za-z0-9_.]{{0,61}})?[A-Za-z0-9]$"

Hostname = Annotated[str, StringConstraints(min_length=1, max_length=253, pattern=HOSTNAME_PATTERN)]
PreciseHostname = Annotated[
    str, StringConstraints(min_length=1, max_length=253, pattern=PRECISE_HOSTNAME_PATTERN)
]
Group = Annotated[str, StringConstraints(max_length=253, pattern=rf"^$|^{_SUBDOMAIN}$")]
Kind = Annotated[
    str,
    StringConstraints(
        min_length=1, max_length=63, pattern=r"^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$"
    ),
]
ObjectName = Annotated[str, StringConstraints(min_length=1, max_length=253)]
NamespaceName = Annotated[
    str, StringConstraints(min_length=1, max_length=63, pattern=rf"^{_LABEL}$")
]
SectionName = Annotated[
    str, StringConstraints(min_length=1, max_length=253, pattern=rf"^{_SUBDOMAIN}$")
]
PortNumber = Annotated[int, Field(ge=1, le=65535)]
Weight = Annotated[int, Field(ge=0, le=1_000_000)]
HeaderName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=256, pattern=r"^[A-Za-z0-9!#$%&'*+\-.^_\x60|~]+$"),
]
# Printable US-ASCII, single tabs or spaces between: the experimental channel's pattern.
HeaderValue = Annotated[
    str,
    StringConstraints(min_length=1, max_length=4096, pattern=r"^[!-~]+([\t ]?[!-~]+)*$"),
]
GatewayController = Annotated[
    str,
    StringConstraints(
        min_length=1,
        max_length=253,
        pattern=rf"^{_SUBDOMAIN}\/[A-Za-z0-9\/\-._~%!$&'()*+,;=:]+$",
    ),
]
AnnotationKey = Annotated[
    str, StringConstraints(min_length=1, max_length=253, pattern=_QUALIFIED_NAME)
]
AnnotationValue = Annotated[str, StringConstraints(max_length=4096)]
LabelKey = AnnotationKey
LabelValue = Annotated[
    str, StringConstraints(max_length=63, pattern=r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
]


class ParentReference(Model):
    group: Group = GATEWAY_GROUP
    kind: Kind = "Gateway"
    namespace: NamespaceName | None = None
    name: ObjectName
    section_name: SectionName | None = None
    port: PortNumber | None = None


class CommonRouteSpec(Model):
    parent_refs: tuple[ParentReference, ...] = Field(default=(), max_length=32)
    # GEP-3793 (experimental): attach to the Gateways that claim this default scope.
    use_default_gateway: Literal["All", "None"] | None = None

    @field_validator("parent_refs")
    @classmethod
    def _parent_refs_distinct(
        cls, refs: tuple[ParentReference, ...]
    ) -> tuple[ParentReference, ...]:
        """Refs to one parent must all set sectionName/port, or all not, and never repeat."""
        if len(refs) < 2:
            return refs
        shapes: dict[tuple[str, str, str, str], tuple[bool, bool]] = {}
        for ref in refs:
            parent = (ref.group, ref.kind, ref.name, ref.namespace or "")
            shape = (bool(ref.section_name), bool(ref.port))
            if shapes.setdefault(parent, shape) != shape:
                raise violation(
                    "sectionName or port must be specified when parentRefs includes 2 or "
                    "more references to the same parent"
                )
        targets = (
            (
                ref.group,
                ref.kind,
                ref.name,
                ref.namespace or "",
                ref.section_name or "",
                ref.port or 0,
            )
            for ref in refs
        )
        if first_duplicate(targets) is not None:
            raise violation(
                "sectionName or port must be unique when parentRefs includes 2 or more "
                "references to the same parent"
            )
        return refs


class BackendObjectReference(Model):
    group: Group = ""
    kind: Kind = "Service"
    name: ObjectName
    namespace: NamespaceName | None = None
    port: PortNumber | None = None

    @model_validator(mode="after")
    def _service_has_port(self) -> BackendObjectReference:
        if self.group == "" and self.kind == "Service" and self.port is None:
            raise violation("Must have port for Service reference")
        return self


class BackendRef(BackendObjectReference):
    weight: Weight = 1


class LocalObjectReference(Model):
    # No CRD default; an empty group means the core API group, so "" says the same.
    group: Group = ""
    kind: Kind
    name: ObjectName


class SecretObjectReference(Model):
    group: Group = ""
    kind: Kind = "Secret"
    name: ObjectName
    namespace: NamespaceName | None = None


class ObjectReference(Model):
    group: Group
    kind: Kind
    name: ObjectName
    namespace: NamespaceName | None = None


class LabelSelectorOperator(StrEnum):
    IN = "In"
    NOT_IN = "NotIn"
    EXISTS = "Exists"
    DOES_NOT_EXIST = "DoesNotExist"


class LabelSelectorRequirement(Model):
    key: str
    # The CRD schema leaves the operator free text; compare against LabelSelectorOperator.
    operator: str
    values: tuple[str, ...] = ()


class LabelSelector(Model):
    match_labels: dict[str, str] = Field(default_factory=dict)
    match_expressions: tuple[LabelSelectorRequirement, ...] = ()


class HeaderMatchType(StrEnum):
    EXACT = "Exact"
    REGULAR_EXPRESSION = "RegularExpression"


QueryParamMatchType = HeaderMatchType


class HTTPHeaderMatch(Model):
    type: HeaderMatchType = HeaderMatchType.EXACT
    name: HeaderName
    value: HeaderValue


class HTTPQueryParamMatch(Model):
    type: QueryParamMatchType = HeaderMatchType.EXACT
    name: HeaderName
    value: Annotated[str, StringConstraints(min_length=1, max_length=1024)]


class HTTPHeader(Model):
    name: HeaderName
    value: HeaderValue


_Keyed = TypeVar("_Keyed", HTTPHeader, HTTPHeaderMatch, HTTPQueryParamMatch)


def unique_names(entries: tuple[_Keyed, ...]) -> tuple[_Keyed, ...]:
    """A list-map keyed by name: the API server rejects a name given twice."""
    if len(entries) < 2:
        return entries
    duplicate = first_duplicate(entry.name for entry in entries)
    if duplicate is not None:
        raise violation(f"duplicate entry with name {duplicate!r}")
    return entries


class HeaderModifier(Model):
    set: tuple[HTTPHeader, ...] = Field(default=(), max_length=16)
    add: tuple[HTTPHeader, ...] = Field(default=(), max_length=16)
    remove: tuple[str, ...] = Field(default=(), max_length=16)

    @field_validator("set", "add")
    @classmethod
    def _names_unique(cls, entries: tuple[HTTPHeader, ...]) -> tuple[HTTPHeader, ...]:
        return unique_names(entries)

    @field_validator("remove")
    @classmethod
    def _remove_is_a_set(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        duplicate = first_duplicate(names)
        if duplicate is not None:
            raise violation(f"duplicate header name {duplicate!r}")
        return names


class SessionPersistenceType(StrEnum):
    COOKIE = "Cookie"
    HEADER = "Header"


class CookieLifetimeType(StrEnum):
    SESSION = "Session"
    PERMANENT = "Permanent"


class CookieConfig(Model):
    lifetime_type: CookieLifetimeType = CookieLifetimeType.SESSION


class SessionPersistence(Model):
    session_name: Annotated[str, StringConstraints(max_length=128)] | None = None
    absolute_timeout: Duration | None = None
    idle_timeout: Duration | None = None
    type: SessionPersistenceType = SessionPersistenceType.COOKIE
    cookie_config: CookieConfig | None = None

    @model_validator(mode="after")
    def _permanent_cookie_has_timeout(self) -> SessionPersistence:
        permanent = (
            self.cookie_config is not None
            and self.cookie_config.lifetime_type is CookieLifetimeType.PERMANENT
        )
        if permanent and self.absolute_timeout is None:
            raise violation(
                "AbsoluteTimeout must be specified when cookie lifetimeType is Permanent"
            )
        return self


class _NamedRule(Protocol):
    @property
    def name(self) -> str | None: ...


_Rule = TypeVar("_Rule", bound=_NamedRule)


def unique_rule_names(rules: tuple[_Rule, ...]) -> tuple[_Rule, ...]:
    """Route rules: a name, when set, appears once."""
    if len(rules) < 2:
        return rules
    duplicate = first_duplicate(rule.name for rule in rules if rule.name)
    if duplicate is not None:
        raise violation(f"Rule name must be unique within the route: {duplicate!r} repeats")
    return rules
