"""Translation options: everything the translator needs that is not a Kubernetes object."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

DEFAULT_CONTROLLER_NAME = "agentgateway.dev/agentgateway"


class DataPlane(StrEnum):
    """What serves a Gateway. The agw proxy implements every Envoy feature agw emits and,
    beyond them, agw's own typed filters (``proto/``); for Envoy the translator emits only
    what Envoy enforces, and says in the status what it cannot."""

    AGW = "agw"
    ENVOY = "envoy"


@dataclass(frozen=True)
class TranslateOptions:
    controller_name: str = DEFAULT_CONTROLLER_NAME
    # "namespace/name" of a Gateway -> the IP its listeners bind to and publish in status.
    gateway_addresses: Mapping[str, str] = field(default_factory=dict)
    # Used for Gateways without an entry above that request no IP in spec.addresses.
    default_address: str = "0.0.0.0"
    # When set (Kubernetes provisioning), "namespace/name" -> the (type, value) addresses its
    # Service was given: status.addresses shows these instead of the bound address, and a
    # Gateway without an entry is not Programmed yet (AddressNotAssigned).
    published_addresses: Mapping[str, tuple[tuple[str, str], ...]] | None = None
    # The data plane of Gateways without an entry in data_planes ("namespace/name" -> one).
    data_plane: DataPlane = DataPlane.AGW
    data_planes: Mapping[str, DataPlane] = field(default_factory=dict)

    def data_plane_of(self, gateway: str) -> DataPlane:
        """``gateway`` is "namespace/name"."""
        return self.data_planes.get(gateway, self.data_plane)


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
    publishedAddresses: {default/web: [{type: Hostname, value: lb.example.com}]}
    dataPlane: envoy
    dataPlanes: {default/web: agw}
    """
    addresses = doc.get("gatewayAddresses") or {}
    if not isinstance(addresses, Mapping):
        raise ValueError("TranslationOptions.gatewayAddresses must be a mapping")
    planes = doc.get("dataPlanes") or {}
    if not isinstance(planes, Mapping):
        raise ValueError("TranslationOptions.dataPlanes must be a mapping")
    return TranslateOptions(
        controller_name=str(doc.get("controllerName") or DEFAULT_CONTROLLER_NAME),
        gateway_addresses={str(k): str(v) for k, v in addresses.items()},
        default_address=str(doc.get("defaultAddress") or "0.0.0.0"),
        published_addresses=_published_addresses(doc.get("publishedAddresses")),
        data_plane=DataPlane(str(doc.get("dataPlane") or DataPlane.AGW)),
        data_planes={str(k): DataPlane(str(v)) for k, v in planes.items()},
    )


def _published_addresses(value: object) -> dict[str, tuple[tuple[str, str], ...]] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ValueError("TranslationOptions.publishedAddresses must be a mapping")
    return {
        str(gateway): tuple((str(a["type"]), str(a["value"])) for a in entries)
        for gateway, entries in value.items()
    }
