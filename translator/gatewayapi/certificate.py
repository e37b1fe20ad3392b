"""Listener certificate references: Secrets of type kubernetes.io/tls with valid PEM."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_pem_private_key,
)

from translator import naming
from translator.gatewayapi.conditions import Reason
from translator.gatewayapi.owner import ListenerOwner
from translator.gatewayapi.referencegrant import ReferenceFrom, ReferenceGrants, ReferenceTo
from translator.ir import TlsCertificate
from translator.model import Secret
from translator.resources import ResourceSet

GATEWAY_GROUP = "gateway.networking.k8s.io"


@dataclass(frozen=True, slots=True)
class CertificateProblem:
    reason: Reason
    message: str


def resolve_certificate(
    resources: ResourceSet, grants: ReferenceGrants, owner: ListenerOwner, ref: object
) -> TlsCertificate | CertificateProblem:
    """Resolve one ``certificateRefs`` entry of a listener of a Gateway or ListenerSet."""
    group = getattr(ref, "group", "") or ""
    kind = getattr(ref, "kind", "Secret") or "Secret"
    name: str = getattr(ref, "name")  # noqa: B009 - typed as object to accept every ref model
    namespace = getattr(ref, "namespace", None) or owner.namespace
    where = f"{namespace}/{name}"
    if group != "" or kind != "Secret":
        return CertificateProblem(
            Reason.INVALID_CERTIFICATE_REF,
            f"certificateRef {where} has unsupported group/kind {group or 'core'}/{kind};"
            " only core Secrets are supported",
        )
    source = ReferenceFrom(GATEWAY_GROUP, owner.kind, owner.namespace)
    if not grants.permits(source, ReferenceTo("", "Secret", namespace, name)):
        return CertificateProblem(
            Reason.REF_NOT_PERMITTED,
            f"certificateRef to Secret {where} is not permitted by any ReferenceGrant",
        )
    secret = resources.get(Secret, namespace, name)
    if secret is None:
        return CertificateProblem(Reason.INVALID_CERTIFICATE_REF, f"Secret {where} does not exist")
    return certificate_from_secret(secret)


def certificate_from_secret(secret: Secret) -> TlsCertificate | CertificateProblem:
    where = f"{secret.metadata.namespace}/{secret.metadata.name}"
    chain = _secret_value(secret, "tls.crt")
    key = _secret_value(secret, "tls.key")
    if chain is None or key is None:
        return CertificateProblem(
            Reason.INVALID_CERTIFICATE_REF, f"Secret {where} must contain tls.crt and tls.key"
        )
    problem = _pem_problem(chain, key)
    if problem:
        return CertificateProblem(Reason.INVALID_CERTIFICATE_REF, f"Secret {where}: {problem}")
    name = naming.secret(secret.metadata.namespace, secret.metadata.name)
    return TlsCertificate(name=name, certificate_chain=chain, private_key=key)


def _secret_value(secret: Secret, key: str) -> str | None:
    plain = (secret.string_data or {}).get(key)
    if plain is not None:
        return plain
    encoded = (secret.data or {}).get(key)
    if encoded is None:
        return None
    try:
        return base64.b64decode(encoded, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return ""


def _pem_problem(chain: str, key: str) -> str:
    try:
        certificates = x509.load_pem_x509_certificates(chain.encode())
    except ValueError:
        return "tls.crt is not a valid PEM certificate chain"
    if not certificates:
        return "tls.crt holds no certificate"
    try:
        private_key = load_pem_private_key(key.encode(), password=None)
    except (ValueError, TypeError):
        return "tls.key is not a valid unencrypted PEM private key"
    if _spki(certificates[0].public_key()) != _spki(private_key.public_key()):
        return "tls.key does not match the certificate in tls.crt"
    return ""


def _spki(public_key: object) -> bytes:
    return public_key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)  # type: ignore[attr-defined,no-any-return]
