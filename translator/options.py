"""Translation options: everything the translator needs that is not a Kubernetes object."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

DEFAULT_CONTROLLER_NAME = "agentgateway.dev/agentgateway"


@dataclass(frozen=True)
class TranslateOptions:
    controller_name: str = DEFAULT_CONTROLLER_NAME
    # "namespace/name" of a Gateway -> the IP its listeners bind to and publish in status.
    gateway_addresses: Mapping[str, str] = field(default_factory=dict)
    # Used for Gateways without an entry above that request no IP in spec.addresses.
    default_address: str = "0.0.0.0"


OPTIONS_API_VERSION = "agw.dev/v1alpha1"
OPTIONS_KIND = "TranslationOptions"


def is_options_document(doc: object) -> bool:
    return (
        isinstance(doc, dict)
        and doc.get("kind") == OPTIONS_KIND
        and doc.get("apiVersion") == OPTIONS_API_VERSION
    )


def options_from_document(doc: Mapping[str, object]) -> TranslateOptions:
    """Options written as a YAML document beside the objects they apply to, e.g.::

    apiVersion: agw.dev/v1alpha1
    kind: TranslationOptions
    controllerName: example.com/gateway
    gatewayAddresses: {default/web: 127.0.10.1}
    """
    addresses = doc.get("gatewayAddresses") or {}
    if not isinstance(addresses, Mapping):
        raise ValueError("TranslationOptions.gatewayAddresses must be a mapping")
    return TranslateOptions(
        controller_name=str(doc.get("controllerName") or DEFAULT_CONTROLLER_NAME),
        gateway_addresses={str(k): str(v) for k, v in addresses.items()},
        default_address=str(doc.get("defaultAddress") or "0.0.0.0"),
    )
