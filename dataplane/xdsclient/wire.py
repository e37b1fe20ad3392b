"""What the client core needs from a protocol flavour (state of the world or delta): turn a
response into a ``Delivery`` and build the requests that answer or change subscriptions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from dataplane.xdsclient.errors import DuplicateResourceName
from dataplane.xdsclient.resource_types import ROUTE_CONFIGURATION, decode, resource_name
from dataplane.xdsclient.store import StoredResource

# grpc's INVALID_ARGUMENT, the code a NACK's error_detail carries.
INVALID_ARGUMENT = 3


@dataclass(frozen=True, slots=True)
class Delivery:
    """One response, decoded: the resources it brings and the names it removes."""

    type_url: str
    nonce: str
    # State of the world: version_info; delta: system_version_info.
    version: str
    resources: tuple[StoredResource, ...]
    removed: tuple[str, ...] = ()
    # State-of-the-world LDS and CDS: every resource of the type; absence means removal.
    full_state: bool = False
    # Set when the response cannot be decoded; the delivery is NACKed with it.
    problem: str = ""


@dataclass(frozen=True, slots=True)
class Subscription:
    """What the client wants of one type: everything (wildcard) or these names."""

    type_url: str
    wildcard: bool
    names: frozenset[str]


class Wire(Protocol):
    flavour: str

    def decode(self, response: Any, received_at: float) -> Delivery: ...

    def initial(
        self,
        subscription: Subscription,
        held: Mapping[str, str],
        accepted_version: str,
        node: Any | None,
    ) -> Any:
        """The first request for a type on a stream; ``held`` maps names to versions."""

    def ack(self, delivery: Delivery, subscription: Subscription) -> Any: ...

    def nack(
        self,
        delivery: Delivery,
        subscription: Subscription,
        accepted_version: str,
        message: str,
    ) -> Any: ...

    def resubscribe(
        self,
        previous: Subscription,
        subscription: Subscription,
        last_nonce: str,
        accepted_version: str,
    ) -> Any: ...


def stored_resource(
    type_url: str, name: str, serialized: bytes, version: str, received_at: float, seen: set[str]
) -> StoredResource:
    """Decode one resource of a response (either flavour); a name already in ``seen`` (the
    same response) is refused, as Envoy refuses it. A named route configuration is left
    serialized until read (``StoredResource.message``)."""
    if name and type_url == ROUTE_CONFIGURATION:
        message = None
    else:
        message = decode(type_url, serialized)
        name = name or resource_name(type_url, message)
    if name in seen:
        raise DuplicateResourceName(f"{name!r} appears twice in one response")
    seen.add(name)
    return StoredResource(name, message, serialized, version, received_at, type_url)
