"""Frontend client-certificate validation (GEP-91): Gateway ``spec.tls.frontend``, a default
and per-port overrides, applied to every listener that terminates TLS on that port.

AllowValidOnly makes a missing or bad client certificate fail the handshake;
AllowInsecureFallback lets such clients through and marks the Gateway with the
``InsecureFrontendValidationMode`` condition."""

from __future__ import annotations

from typing import Any

from translator import ir, naming
from translator.gatewayapi.cabundle import CaProblem, resolve_ca_ref
from translator.gatewayapi.conditions import ConditionType, Reason
from translator.gatewayapi.listener import GatewayListener
from translator.gatewayapi.referencegrant import ReferenceFrom, ReferenceGrants, ReferenceTo
from translator.gatewayapi.status import GATEWAY_GROUP, GatewayStatus
from translator.model import Gateway
from translator.resources import ResourceSet

ALLOW_INSECURE_FALLBACK = "AllowInsecureFallback"


def apply_frontend_validation(
    resources: ResourceSet,
    grants: ReferenceGrants,
    gateway: Gateway,
    listeners: list[GatewayListener],
    status: GatewayStatus,
) -> None:
    frontend = gateway.spec.tls.frontend if gateway.spec.tls is not None else None
    if frontend is None:
        return
    per_port = {config.port: config.tls for config in frontend.per_port}
    insecure = False
    for listener in listeners:
        if listener.protocol not in ("HTTPS", "TLS") or listener.tls_mode != "Terminate":
            continue
        config = per_port.get(listener.port, frontend.default)
        validation = config.validation if config is not None else None
        if validation is None or not listener.accepts_routes:
            continue
        mode = str(validation.mode)
        insecure = insecure or mode == ALLOW_INSECURE_FALLBACK
        _validate(resources, grants, gateway, listener, validation, mode)
    if insecure:
        status.conditions.set(
            ConditionType.INSECURE_FRONTEND_VALIDATION_MODE,
            True,
            Reason.CONFIGURATION_CHANGED,
            "a listener accepts clients without a valid certificate (AllowInsecureFallback)",
        )


def _validate(
    resources: ResourceSet,
    grants: ReferenceGrants,
    gateway: Gateway,
    listener: GatewayListener,
    validation: Any,
    mode: str,
) -> None:
    conditions = listener.status.conditions
    meta = gateway.metadata
    source = ReferenceFrom(GATEWAY_GROUP, "Gateway", meta.namespace)
    certificates: list[str] = []
    for ref in validation.ca_certificate_refs:
        namespace = ref.namespace or meta.namespace
        if not grants.permits(source, ReferenceTo(ref.group or "", ref.kind, namespace, ref.name)):
            message = f"CA {ref.kind} {namespace}/{ref.name} is not permitted by any ReferenceGrant"
            conditions.worsen(ConditionType.RESOLVED_REFS, Reason.REF_NOT_PERMITTED, message)
            continue
        found = resolve_ca_ref(resources, meta.namespace, ref)
        if isinstance(found, CaProblem):
            reason = (
                Reason.INVALID_CA_CERTIFICATE_KIND
                if found.reason is Reason.INVALID_KIND
                else Reason.INVALID_CA_CERTIFICATE_REF
            )
            conditions.worsen(ConditionType.RESOLVED_REFS, reason, found.message)
        else:
            certificates.append(found)
    if not certificates:
        message = "no valid CA certificate to validate clients with"
        conditions.worsen(ConditionType.RESOLVED_REFS, Reason.NO_VALID_CA_CERTIFICATE, message)
        conditions.set(ConditionType.PROGRAMMED, False, Reason.INVALID, message)
        return
    name = naming.ca_bundle(meta.namespace, f"{meta.name}/{listener.port}", "frontend")
    listener.client_ca_bundle = ir.CaBundle(name, "".join(certificates))
    listener.client_validation = ir.ClientValidation(name, mode != ALLOW_INSECURE_FALLBACK)
