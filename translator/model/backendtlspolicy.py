"""BackendTLSPolicy: how a Gateway connects to a backend over TLS (a direct policy)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, ClassVar, Literal

from pydantic import Field, StringConstraints, field_validator, model_validator

from translator.model.meta import Model, Resource, first_duplicate, violation
from translator.model.shared import (
    GATEWAY_GROUP,
    AnnotationKey,
    AnnotationValue,
    Group,
    Hostname,
    Kind,
    LocalObjectReference,
    ObjectName,
    PreciseHostname,
    SectionName,
)

AbsoluteURI = Annotated[
    str,
    StringConstraints(
        min_length=1,
        max_length=253,
        pattern=r"^(([^:/?#]+):)(//([^/?#]*))([^?#]*)(\?([^#]*))?(#(.*))?",
    ),
]


class LocalPolicyTargetReferenceWithSectionName(Model):
    group: Group
    kind: Kind
    name: ObjectName
    section_name: SectionName | None = None


class SubjectAltNameType(StrEnum):
    HOSTNAME = "Hostname"
    URI = "URI"


class SubjectAltName(Model):
    type: SubjectAltNameType
    hostname: Hostname | None = None
    uri: AbsoluteURI | None = None

    @model_validator(mode="after")
    def _value_matches_type(self) -> SubjectAltName:
        is_hostname = self.type is SubjectAltNameType.HOSTNAME
        if is_hostname and not self.hostname:
            raise violation(
                "SubjectAltName element must contain Hostname, if Type is set to Hostname"
            )
        if not is_hostname and self.hostname:
            raise violation(
                "SubjectAltName element must not contain Hostname, if Type is not set to Hostname"
            )
        if not is_hostname and not self.uri:
            raise violation("SubjectAltName element must contain URI, if Type is set to URI")
        if is_hostname and self.uri:
            raise violation(
                "SubjectAltName element must not contain URI, if Type is not set to URI"
            )
        return self


class BackendTLSPolicyValidation(Model):
    ca_certificate_refs: tuple[LocalObjectReference, ...] = Field(default=(), max_length=8)
    well_known_ca_certificates: Literal["System"] | None = Field(
        default=None, alias="wellKnownCACertificates"
    )
    hostname: PreciseHostname
    subject_alt_names: tuple[SubjectAltName, ...] = Field(default=(), max_length=5)

    @model_validator(mode="after")
    def _one_trust_source(self) -> BackendTLSPolicyValidation:
        if self.ca_certificate_refs and self.well_known_ca_certificates:
            raise violation("must not contain both CACertificateRefs and WellKnownCACertificates")
        if not self.ca_certificate_refs and not self.well_known_ca_certificates:
            raise violation("must specify either CACertificateRefs or WellKnownCACertificates")
        return self


class BackendTLSPolicySpec(Model):
    target_refs: tuple[LocalPolicyTargetReferenceWithSectionName, ...] = Field(
        min_length=1, max_length=16
    )
    validation: BackendTLSPolicyValidation
    options: dict[AnnotationKey, AnnotationValue] = Field(default_factory=dict, max_length=16)

    @field_validator("target_refs")
    @classmethod
    def _targets_distinct(
        cls, refs: tuple[LocalPolicyTargetReferenceWithSectionName, ...]
    ) -> tuple[LocalPolicyTargetReferenceWithSectionName, ...]:
        """Refs to one target must all name a section, or none, and never repeat."""
        shapes: dict[tuple[str, str, str], bool] = {}
        for ref in refs:
            if shapes.setdefault((ref.group, ref.kind, ref.name), bool(ref.section_name)) != bool(
                ref.section_name
            ):
                raise violation(
                    "sectionName must be specified when targetRefs includes 2 or more "
                    "references to the same target"
                )
        if first_duplicate((ref.group, ref.kind, ref.name, ref.section_name or "") for ref in refs):
            raise violation(
                "sectionName must be unique when targetRefs includes 2 or more references to "
                "the same target"
            )
        return refs


class BackendTLSPolicy(Resource):
    GROUP: ClassVar[str] = GATEWAY_GROUP
    KIND: ClassVar[str] = "BackendTLSPolicy"

    spec: BackendTLSPolicySpec
