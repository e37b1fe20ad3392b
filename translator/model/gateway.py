"""GatewayClass and Gateway, with listeners (shared by ListenerSet), addresses,
infrastructure, allowedListeners and Gateway-level TLS (GEP-91 frontend, GEP-3155 backend)."""

from __future__ import annotations

import ipaddress
import re
from enum import StrEnum
from typing import Annotated, ClassVar, Literal

from pydantic import Field, StringConstraints, field_validator, model_validator

from translator.model.meta import Model, Resource, first_duplicate, violation
from translator.model.shared import (
    GATEWAY_GROUP,
    HOSTNAME_PATTERN,
    AnnotationKey,
    AnnotationValue,
    GatewayController,
    Group,
    Hostname,
    Kind,
    LabelKey,
    LabelSelector,
    LabelValue,
    NamespaceName,
    ObjectName,
    ObjectReference,
    PortNumber,
    SecretObjectReference,
    SectionName,
)

# Anything matching this is accepted; only the core values below are supported, and an
# unsupported one is reported on the listener (UnsupportedProtocol), not at load time.
PROTOCOL_PATTERN = (
    r"^[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?$|"
    r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/[A-Za-z0-9]+$"
)
ADDRESS_TYPE_PATTERN = (
    r"^Hostname|IPAddress|NamedAddress|"
    r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/[A-Za-z0-9\/\-._~%!$&'()*+,;=:]+$"
)
_HOSTNAME = re.compile(HOSTNAME_PATTERN)
_NO_TLS = ("HTTP", "TCP", "UDP")
_NO_HOSTNAME = ("TCP", "UDP")


class ProtocolType(StrEnum):
    HTTP = "HTTP"
    HTTPS = "HTTPS"
    TLS = "TLS"
    TCP = "TCP"
    UDP = "UDP"


class TLSModeType(StrEnum):
    TERMINATE = "Terminate"
    PASSTHROUGH = "Passthrough"


class FromNamespaces(StrEnum):
    ALL = "All"
    SELECTOR = "Selector"
    SAME = "Same"
    NONE = "None"


class ListenerTLSConfig(Model):
    mode: TLSModeType = TLSModeType.TERMINATE
    certificate_refs: tuple[SecretObjectReference, ...] = Field(default=(), max_length=64)
    options: dict[AnnotationKey, AnnotationValue] = Field(default_factory=dict, max_length=16)

    @model_validator(mode="after")
    def _terminate_has_certificates(self) -> ListenerTLSConfig:
        terminates = self.mode is TLSModeType.TERMINATE
        if terminates and not self.certificate_refs and not self.options:
            raise violation("certificateRefs or options must be specified when mode is Terminate")
        return self


class RouteNamespaces(Model):
    from_: FromNamespaces = Field(default=FromNamespaces.SAME, alias="from")
    selector: LabelSelector | None = None

    @field_validator("from_")
    @classmethod
    def _routes_come_from_somewhere(cls, origin: FromNamespaces) -> FromNamespaces:
        if origin is FromNamespaces.NONE:
            raise violation("Input should be 'All', 'Selector' or 'Same'")
        return origin


class RouteGroupKind(Model):
    group: Group = GATEWAY_GROUP
    kind: Kind


class AllowedRoutes(Model):
    namespaces: RouteNamespaces = RouteNamespaces()
    # Empty: the kinds follow from the listener protocol.
    kinds: tuple[RouteGroupKind, ...] = Field(default=(), max_length=8)


class Listener(Model):
    name: SectionName
    hostname: Hostname | None = None
    port: PortNumber
    protocol: Annotated[
        str, StringConstraints(min_length=1, max_length=255, pattern=PROTOCOL_PATTERN)
    ]
    tls: ListenerTLSConfig | None = None
    allowed_routes: AllowedRoutes = AllowedRoutes()

    def core_protocol(self) -> ProtocolType | None:
        """The core protocol this listener names (core values are case-insensitive), if any."""
        try:
            return ProtocolType(self.protocol.upper())
        except ValueError:
            return None


def check_listeners(listeners: tuple[Listener, ...], *, fold_case: bool) -> tuple[Listener, ...]:
    """The listener-list rules of Gateway and ListenerSet (``fold_case``: ListenerSet compares
    protocols case-insensitively when checking port/protocol/hostname uniqueness)."""
    for listener in listeners:
        protocol = listener.protocol.upper()
        if protocol in _NO_TLS and listener.tls is not None:
            raise violation("tls must not be specified for protocols ['HTTP', 'TCP', 'UDP']")
        if protocol == "TLS" and listener.tls is None:
            raise violation("tls mode must be set for protocol TLS")
        if protocol in _NO_HOSTNAME and listener.hostname:
            raise violation("hostname must not be specified for protocols ['TCP', 'UDP']")
        if protocol == "HTTPS" and listener.tls and listener.tls.mode is not TLSModeType.TERMINATE:
            raise violation("tls mode must be Terminate for protocol HTTPS")
    duplicate = first_duplicate(listener.name for listener in listeners)
    if duplicate is not None:
        raise violation(f"Listener name must be unique within the Gateway: {duplicate!r} repeats")
    endpoints = (
        (item.port, item.protocol.lower() if fold_case else item.protocol, item.hostname)
        for item in listeners
    )
    if first_duplicate(endpoints) is not None:
        raise violation(
            "Combination of port, protocol and hostname must be unique for each listener"
        )
    return listeners


class GatewaySpecAddress(Model):
    type: Annotated[
        str, StringConstraints(min_length=1, max_length=253, pattern=ADDRESS_TYPE_PATTERN)
    ] = "IPAddress"
    value: Annotated[str, StringConstraints(max_length=253)] | None = None

    @model_validator(mode="after")
    def _value_fits_type(self) -> GatewaySpecAddress:
        if self.type == "Hostname" and self.value and not _HOSTNAME.fullmatch(self.value):
            raise violation(
                "Hostname value must be empty or contain only valid characters "
                f"(matching {HOSTNAME_PATTERN})"
            )
        if self.type == "IPAddress" and self.value:
            try:
                ipaddress.ip_address(self.value)
            except ValueError:
                raise violation(
                    f"IPAddress value {self.value!r} is not a valid IP address"
                ) from None
        return self


class LocalParametersReference(Model):
    group: Group
    kind: Kind
    name: Annotated[str, StringConstraints(min_length=1, max_length=253)]


class GatewayInfrastructure(Model):
    labels: dict[LabelKey, LabelValue] = Field(default_factory=dict, max_length=8)
    annotations: dict[AnnotationKey, AnnotationValue] = Field(default_factory=dict, max_length=16)
    parameters_ref: LocalParametersReference | None = None


class ListenerNamespaces(Model):
    from_: FromNamespaces = Field(default=FromNamespaces.NONE, alias="from")
    selector: LabelSelector | None = None


class AllowedListeners(Model):
    namespaces: ListenerNamespaces = ListenerNamespaces()


class FrontendValidationModeType(StrEnum):
    ALLOW_VALID_ONLY = "AllowValidOnly"
    ALLOW_INSECURE_FALLBACK = "AllowInsecureFallback"


class FrontendTLSValidation(Model):
    ca_certificate_refs: tuple[ObjectReference, ...] = Field(min_length=1, max_length=8)
    mode: FrontendValidationModeType = FrontendValidationModeType.ALLOW_VALID_ONLY


class TLSConfig(Model):
    validation: FrontendTLSValidation | None = None


class TLSPortConfig(Model):
    port: PortNumber
    tls: TLSConfig


class FrontendTLSConfig(Model):
    default: TLSConfig
    per_port: tuple[TLSPortConfig, ...] = Field(default=(), max_length=64)

    @field_validator("per_port")
    @classmethod
    def _ports_unique(cls, configs: tuple[TLSPortConfig, ...]) -> tuple[TLSPortConfig, ...]:
        duplicate = first_duplicate(config.port for config in configs)
        if duplicate is not None:
            raise violation(
                f"Port for TLS configuration must be unique within the Gateway: {duplicate}"
            )
        return configs


class GatewayBackendTLS(Model):
    client_certificate_ref: SecretObjectReference | None = None


class GatewayTLSConfig(Model):
    backend: GatewayBackendTLS | None = None
    frontend: FrontendTLSConfig | None = None


class GatewaySpec(Model):
    gateway_class_name: ObjectName
    listeners: tuple[Listener, ...] = Field(min_length=1, max_length=64)
    addresses: tuple[GatewaySpecAddress, ...] = Field(default=(), max_length=16)
    infrastructure: GatewayInfrastructure | None = None
    # None: no ListenerSet may attach (the CRD's default when the field is absent).
    allowed_listeners: AllowedListeners | None = None
    tls: GatewayTLSConfig | None = None
    default_scope: Literal["All", "None"] | None = None

    @field_validator("listeners")
    @classmethod
    def _listeners_distinct(cls, listeners: tuple[Listener, ...]) -> tuple[Listener, ...]:
        return check_listeners(listeners, fold_case=False)

    @field_validator("addresses")
    @classmethod
    def _addresses_unique(
        cls, addresses: tuple[GatewaySpecAddress, ...]
    ) -> tuple[GatewaySpecAddress, ...]:
        for kind in ("IPAddress", "Hostname"):
            values = (item.value for item in addresses if item.type == kind and item.value)
            if first_duplicate(values) is not None:
                raise violation(f"{kind} values must be unique")
        return addresses


class Gateway(Resource):
    GROUP: ClassVar[str] = GATEWAY_GROUP
    KIND: ClassVar[str] = "Gateway"

    spec: GatewaySpec


class ParametersReference(Model):
    group: Group
    kind: Kind
    name: Annotated[str, StringConstraints(min_length=1, max_length=253)]
    namespace: NamespaceName | None = None


class GatewayClassSpec(Model):
    controller_name: GatewayController
    parameters_ref: ParametersReference | None = None
    description: Annotated[str, StringConstraints(max_length=64)] | None = None


class GatewayClass(Resource):
    GROUP: ClassVar[str] = GATEWAY_GROUP
    KIND: ClassVar[str] = "GatewayClass"
    NAMESPACED: ClassVar[bool] = False

    spec: GatewayClassSpec
