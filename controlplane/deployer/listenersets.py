"""The ports a provisioned Service must expose beyond the Gateway's own listeners: those of
the ListenerSet listeners the Gateway accepted.

Which ListenerSets attach, and which of their listeners survive the conflict rules, is the
translator's decision (``allowedListeners``, the parent's acceptance, port and hostname
conflicts); deciding it again here could disagree. So the ports come from the translation's
statuses: a ListenerSet whose ``Accepted`` condition is True contributes every listener
entry that is itself ``Accepted``, with the port the status reports and the transport of
the listener's protocol in the ListenerSet's spec.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from translator.gatewayapi.status import GATEWAY_GROUP, ObjectId
from translator.model import ListenerSet
from translator.resources import ResourceSet

# (port, "TCP" or "UDP").
Port = tuple[int, str]
# "namespace/name" of a Gateway -> the extra ports, sorted, each once.
GatewayPorts = Mapping[str, tuple[Port, ...]]


def transport(protocol: str) -> str:
    """The Service port protocol a listener protocol needs."""
    return "UDP" if protocol.upper() == "UDP" else "TCP"


def listener_set_ports(
    resources: ResourceSet, statuses: Mapping[ObjectId, Mapping[str, Any]]
) -> dict[str, tuple[Port, ...]]:
    """Per Gateway, the ports of its accepted ListenerSet listeners (Gateways with none are
    left out)."""
    found: dict[str, set[Port]] = {}
    for listener_set in resources.listener_sets:
        meta = listener_set.metadata
        status = statuses.get(ObjectId(GATEWAY_GROUP, "ListenerSet", meta.namespace, meta.name))
        if status is None or not _accepted(status.get("conditions")):
            continue
        ports = set(_accepted_ports(listener_set, status.get("listeners") or ()))
        if ports:
            parent = listener_set.spec.parent_ref
            found.setdefault(f"{parent.namespace or meta.namespace}/{parent.name}", set()).update(
                ports
            )
    return {gateway: tuple(sorted(ports)) for gateway, ports in sorted(found.items())}


def _accepted_ports(listener_set: ListenerSet, entries: Iterable[Any]) -> Iterable[Port]:
    protocols = {listener.name: listener.protocol for listener in listener_set.spec.listeners}
    for entry in entries:
        if not isinstance(entry, Mapping):
            continue
        protocol = protocols.get(str(entry.get("name")))
        port = entry.get("port")
        if protocol is not None and isinstance(port, int) and _accepted(entry.get("conditions")):
            yield port, transport(protocol)


def _accepted(conditions: Any) -> bool:
    return any(
        isinstance(condition, Mapping)
        and condition.get("type") == "Accepted"
        and condition.get("status") == "True"
        for condition in conditions or ()
    )
