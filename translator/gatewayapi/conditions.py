"""Condition types and reasons, spelled exactly as the Gateway API spells them."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ConditionType(StrEnum):
    ACCEPTED = "Accepted"
    PROGRAMMED = "Programmed"
    RESOLVED_REFS = "ResolvedRefs"
    CONFLICTED = "Conflicted"
    PARTIALLY_INVALID = "PartiallyInvalid"
    SUPPORTED_VERSION = "SupportedVersion"
    INSECURE_FRONTEND_VALIDATION_MODE = "InsecureFrontendValidationMode"
    # AgentgatewayPolicy: whether the policy's settings take effect at an ancestor.
    ATTACHED = "Attached"


class Reason(StrEnum):
    # Shared
    ACCEPTED = "Accepted"
    PROGRAMMED = "Programmed"
    RESOLVED_REFS = "ResolvedRefs"
    INVALID = "Invalid"
    PENDING = "Pending"
    UNSUPPORTED_VALUE = "UnsupportedValue"
    # GatewayClass
    INVALID_PARAMETERS = "InvalidParameters"
    SUPPORTED_VERSION = "SupportedVersion"
    # Gateway
    LISTENERS_NOT_VALID = "ListenersNotValid"
    UNSUPPORTED_ADDRESS = "UnsupportedAddress"
    ADDRESS_NOT_USABLE = "AddressNotUsable"
    ADDRESS_NOT_ASSIGNED = "AddressNotAssigned"
    INVALID_CLIENT_CERTIFICATE_REF = "InvalidClientCertificateRef"
    CONFIGURATION_CHANGED = "ConfigurationChanged"
    # Listener
    NO_CONFLICTS = "NoConflicts"
    PROTOCOL_CONFLICT = "ProtocolConflict"
    HOSTNAME_CONFLICT = "HostnameConflict"
    UNSUPPORTED_PROTOCOL = "UnsupportedProtocol"
    INVALID_ROUTE_KINDS = "InvalidRouteKinds"
    INVALID_CERTIFICATE_REF = "InvalidCertificateRef"
    INVALID_CA_CERTIFICATE_REF = "InvalidCACertificateRef"
    INVALID_CA_CERTIFICATE_KIND = "InvalidCACertificateKind"
    NO_VALID_CA_CERTIFICATE = "NoValidCACertificate"
    REF_NOT_PERMITTED = "RefNotPermitted"
    # ListenerSet
    NOT_ALLOWED = "NotAllowed"
    PARENT_NOT_ACCEPTED = "ParentNotAccepted"
    # Policies
    CONFLICTED = "Conflicted"
    TARGET_NOT_FOUND = "TargetNotFound"
    SECTION_NOT_FOUND = "SectionNotFound"
    ATTACHED = "Attached"
    MERGED = "Merged"
    OVERRIDDEN = "Overridden"
    # Route
    NOT_ALLOWED_BY_LISTENERS = "NotAllowedByListeners"
    NO_MATCHING_PARENT = "NoMatchingParent"
    NO_MATCHING_LISTENER_HOSTNAME = "NoMatchingListenerHostname"
    BACKEND_NOT_FOUND = "BackendNotFound"
    INVALID_KIND = "InvalidKind"


@dataclass(frozen=True, slots=True)
class Condition:
    type: ConditionType
    status: bool
    reason: Reason
    message: str

    def to_dict(self, generation: int) -> dict[str, object]:
        """Kubernetes shape, without lastTransitionTime: the status writer owns the clock."""
        return {
            "type": str(self.type),
            "status": "True" if self.status else "False",
            "reason": str(self.reason),
            "message": self.message,
            "observedGeneration": generation,
        }


def conditions_to_list(
    conditions: dict[ConditionType, Condition], generation: int
) -> list[dict[str, object]]:
    return [c.to_dict(generation) for c in conditions.values()]
