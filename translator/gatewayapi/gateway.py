"""GatewayClass acceptance and Gateway translation (addresses, listeners, conditions)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from translator.gatewayapi.conditions import ConditionType, Reason
from translator.gatewayapi.listener import GatewayListener, translate_listeners
from translator.gatewayapi.referencegrant import ReferenceGrants
from translator.gatewayapi.status import GatewayStatus, SimpleStatus
from translator.model import Gateway, GatewayClass
from translator.options import TranslateOptions
from translator.resources import ResourceSet


@dataclass
class GatewayState:
    gateway: Gateway
    address: str
    listeners: list[GatewayListener]
    status: GatewayStatus


def translate_gateway_class(
    gateway_class: GatewayClass, options: TranslateOptions
) -> SimpleStatus | None:
    """Status for a GatewayClass of ours; None for other controllers' classes."""
    if gateway_class.spec.controller_name != options.controller_name:
        return None
    status = SimpleStatus(generation=gateway_class.metadata.generation)
    if gateway_class.spec.parameters_ref is not None:
        ref = gateway_class.spec.parameters_ref
        status.conditions.set(
            ConditionType.ACCEPTED,
            False,
            Reason.INVALID_PARAMETERS,
            f"parametersRef {ref.group}/{ref.kind} {ref.name} is not supported",
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


def translate_gateway(
    resources: ResourceSet, grants: ReferenceGrants, gateway: Gateway, options: TranslateOptions
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
    _check_addresses(gateway, address, status)
    return GatewayState(gateway=gateway, address=address, listeners=listeners, status=status)


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
