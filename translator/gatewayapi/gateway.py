"""GatewayClass acceptance and Gateway translation (parameters, addresses, listeners,
conditions)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from translator.gatewayapi.certificate import CertificateProblem, resolve_certificate
from translator.gatewayapi.conditions import ConditionType, Reason
from translator.gatewayapi.listener import GatewayListener, translate_listeners
from translator.gatewayapi.owner import ListenerOwner
from translator.gatewayapi.parameters import resolve_class_parameters, resolve_gateway_parameters
from translator.gatewayapi.referencegrant import ReferenceGrants
from translator.gatewayapi.status import GatewayStatus, SimpleStatus
from translator.ir import TlsCertificate
from translator.model import Gateway, GatewayClass
from translator.options import TranslateOptions
from translator.resources import ResourceSet


@dataclass
class GatewayState:
    gateway: Gateway
    address: str
    listeners: list[GatewayListener]
    status: GatewayStatus
    # The certificate this Gateway presents to TLS backends (spec.tls.backend, GEP-3155).
    backend_client_certificate: TlsCertificate | None = None


def translate_gateway_class(
    resources: ResourceSet, gateway_class: GatewayClass, options: TranslateOptions
) -> SimpleStatus | None:
    """Status for a GatewayClass of ours; None for other controllers' classes."""
    if gateway_class.spec.controller_name != options.controller_name:
        return None
    status = SimpleStatus(generation=gateway_class.metadata.generation)
    parameters = resolve_class_parameters(resources, gateway_class)
    if not parameters.is_valid:
        status.conditions.set(
            ConditionType.ACCEPTED, False, Reason.INVALID_PARAMETERS, parameters.problem
        )
    else:
        status.conditions.set(
            ConditionType.ACCEPTED, True, Reason.ACCEPTED, "GatewayClass is accepted"
        )
    status.conditions.set(
        ConditionType.SUPPORTED_VERSION,
        True,
        Reason.SUPPORTED_VERSION,
        "Gateway API v1.6 is supported",
    )
    return status


# Gateways not accepted for these reasons get no IR: no address is bound for them.
_UNBOUND = frozenset({Reason.INVALID_PARAMETERS, Reason.UNSUPPORTED_ADDRESS})


def translate_gateway(
    resources: ResourceSet,
    grants: ReferenceGrants,
    gateway_class: GatewayClass,
    gateway: Gateway,
    options: TranslateOptions,
) -> GatewayState:
    meta = gateway.metadata
    status = GatewayStatus(generation=meta.generation)
    address = options.gateway_addresses.get(f"{meta.namespace}/{meta.name}") or _requested_address(
        gateway, options
    )
    listeners = translate_listeners(resources, grants, gateway)
    status.listeners = [listener.status for listener in listeners]
    status.conditions.set(ConditionType.ACCEPTED, True, Reason.ACCEPTED, "Gateway is accepted")
    status.conditions.set(
        ConditionType.PROGRAMMED, True, Reason.PROGRAMMED, "Gateway is programmed"
    )
    status.addresses = [{"type": "IPAddress", "value": address}]
    invalid = [listener.name for listener in listeners if not listener.accepts_routes]
    if invalid:
        all_invalid = len(invalid) == len(listeners)
        status.conditions.set(
            ConditionType.ACCEPTED,
            not all_invalid,
            Reason.LISTENERS_NOT_VALID,
            f"invalid listeners: {', '.join(invalid)}",
        )
    published = options.published_addresses
    if published is None:
        _check_addresses(gateway, address, status)
    else:
        _publish_addresses(gateway, published.get(f"{meta.namespace}/{meta.name}", ()), status)
    parameters = resolve_gateway_parameters(resources, gateway_class, gateway)
    if not parameters.is_valid:
        status.conditions.set(
            ConditionType.ACCEPTED, False, Reason.INVALID_PARAMETERS, parameters.problem
        )
        status.conditions.set(ConditionType.PROGRAMMED, False, Reason.INVALID, parameters.problem)
    accepted = status.conditions.get(ConditionType.ACCEPTED)
    if accepted is not None and accepted.reason in _UNBOUND:
        status.addresses = []  # nothing is bound for this Gateway
        for listener in status.listeners:
            if listener.conditions.is_true(ConditionType.PROGRAMMED):
                listener.conditions.set(
                    ConditionType.PROGRAMMED, False, Reason.INVALID, "the Gateway is not accepted"
                )
    state = GatewayState(gateway=gateway, address=address, listeners=listeners, status=status)
    state.backend_client_certificate = _backend_client_certificate(
        resources, grants, gateway, status
    )
    return state


def _backend_client_certificate(
    resources: ResourceSet, grants: ReferenceGrants, gateway: Gateway, status: GatewayStatus
) -> TlsCertificate | None:
    """GEP-3155: the certificate the Gateway presents to TLS backends. A bad reference is
    reported on the Gateway (which stays Accepted) and no certificate is presented."""
    backend = gateway.spec.tls.backend if gateway.spec.tls is not None else None
    ref = backend.client_certificate_ref if backend is not None else None
    if ref is None:
        return None
    meta = gateway.metadata
    resolved = resolve_certificate(
        resources, grants, ListenerOwner("Gateway", meta.namespace, meta.name), ref
    )
    if isinstance(resolved, CertificateProblem):
        reason = (
            Reason.REF_NOT_PERMITTED
            if resolved.reason is Reason.REF_NOT_PERMITTED
            else Reason.INVALID_CLIENT_CERTIFICATE_REF
        )
        status.conditions.set(
            ConditionType.RESOLVED_REFS,
            False,
            reason,
            f"spec.tls.backend.clientCertificateRef: {resolved.message}",
        )
        return None
    status.conditions.set(
        ConditionType.RESOLVED_REFS, True, Reason.RESOLVED_REFS, "All references resolved"
    )
    return resolved


def _publish_addresses(
    gateway: Gateway, published: tuple[tuple[str, str], ...], status: GatewayStatus
) -> None:
    """Kubernetes provisioning: the Service's addresses are the Gateway's, once it has any."""
    status.addresses = [{"type": kind, "value": value} for kind, value in published]
    if not published:
        status.conditions.set(
            ConditionType.PROGRAMMED,
            False,
            Reason.ADDRESS_NOT_ASSIGNED,
            "waiting for the Gateway's Service to be assigned an address",
        )
        return
    values = {value for _, value in published}
    for index, entry in enumerate(gateway.spec.addresses or ()):
        field = f"spec.addresses[{index}]"
        if (entry.type or "IPAddress") not in ("IPAddress", "Hostname"):
            _fail_address(
                status,
                Reason.UNSUPPORTED_ADDRESS,
                f"{field}: address type {entry.type} is not supported",
            )
            return
        if entry.value and entry.value not in values:
            status.conditions.set(
                ConditionType.PROGRAMMED,
                False,
                Reason.ADDRESS_NOT_USABLE,
                f"{field}: {entry.value} is not an address of the Gateway's Service "
                f"({', '.join(sorted(values))})",
            )


def _requested_address(gateway: Gateway, options: TranslateOptions) -> str:
    """Without an assigned address, bind the first IP the Gateway asks for (or the default)."""
    for entry in gateway.spec.addresses or ():
        if (entry.type or "IPAddress") == "IPAddress" and entry.value:
            try:
                return str(ipaddress.ip_address(entry.value))
            except ValueError:
                continue
    return options.default_address


def _check_addresses(gateway: Gateway, assigned: str, status: GatewayStatus) -> None:
    for index, entry in enumerate(gateway.spec.addresses or ()):
        field = f"spec.addresses[{index}]"
        kind = entry.type or "IPAddress"
        if kind != "IPAddress":
            _fail_address(
                status, Reason.UNSUPPORTED_ADDRESS, f"{field}: address type {kind} is not supported"
            )
            return
        if not entry.value:
            continue  # an empty value asks the implementation to choose
        try:
            ipaddress.ip_address(entry.value)
        except ValueError:
            _fail_address(
                status, Reason.UNSUPPORTED_ADDRESS, f"{field}: {entry.value!r} is not an IP address"
            )
            return
        if entry.value != assigned:
            status.conditions.set(
                ConditionType.PROGRAMMED,
                False,
                Reason.ADDRESS_NOT_USABLE,
                f"{field}: {entry.value} cannot be used; the gateway is bound to {assigned}",
            )


def _fail_address(status: GatewayStatus, reason: Reason, message: str) -> None:
    status.conditions.set(ConditionType.ACCEPTED, False, reason, message)
    status.conditions.set(ConditionType.PROGRAMMED, False, reason, message)
