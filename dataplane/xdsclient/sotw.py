"""State-of-the-world ADS: ``DiscoveryRequest`` and ``DiscoveryResponse``.

LDS and CDS responses carry the full state; EDS, RDS and SDS responses may carry only the
names that changed. An ACK echoes the response's ``version_info`` and ``nonce`` with the
current subscription; a NACK echoes the nonce, keeps the last accepted ``version_info`` and
carries ``error_detail``. A subscription change echoes the type's latest nonce, since the
server ignores requests with a stale one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from envoy.service.discovery.v3.discovery_pb2 import (
    DiscoveryRequest,
    DiscoveryResponse,
)
from envoy.service.discovery.v3.discovery_pb2 import Resource as ResourceWrapper
from google.rpc.status_pb2 import Status

from dataplane.errors import ConfigRejected
from dataplane.xdsclient.errors import ResourceUndecodable
from dataplane.xdsclient.resource_types import FULL_STATE_TYPES
from dataplane.xdsclient.store import StoredResource
from dataplane.xdsclient.wire import INVALID_ARGUMENT, Delivery, Subscription, stored_resource

_WRAPPER_TYPE = "type.googleapis.com/envoy.service.discovery.v3.Resource"


class SotwWire:
    flavour = "sotw"

    def decode(self, response: DiscoveryResponse, received_at: float) -> Delivery:
        type_url = response.type_url
        resources: list[StoredResource] = []
        problem = ""
        try:
            seen: set[str] = set()
            for packed in response.resources:
                name, serialized = _unwrap(packed, type_url)
                version = response.version_info
                resources.append(
                    stored_resource(type_url, name, serialized, version, received_at, seen)
                )
        except ConfigRejected as error:
            problem = str(error)
        return Delivery(
            type_url=type_url,
            nonce=response.nonce,
            version=response.version_info,
            resources=tuple(resources),
            full_state=type_url in FULL_STATE_TYPES,
            problem=problem,
        )

    def initial(
        self,
        subscription: Subscription,
        held: Mapping[str, str],
        accepted_version: str,
        node: Any | None,
    ) -> DiscoveryRequest:
        request = DiscoveryRequest(
            type_url=subscription.type_url,
            version_info=accepted_version,
            resource_names=_names(subscription),
        )
        if node is not None:
            request.node.CopyFrom(node)
        return request

    def ack(self, delivery: Delivery, subscription: Subscription) -> DiscoveryRequest:
        return DiscoveryRequest(
            type_url=delivery.type_url,
            version_info=delivery.version,
            response_nonce=delivery.nonce,
            resource_names=_names(subscription),
        )

    def nack(
        self,
        delivery: Delivery,
        subscription: Subscription,
        accepted_version: str,
        message: str,
    ) -> DiscoveryRequest:
        return DiscoveryRequest(
            type_url=delivery.type_url,
            version_info=accepted_version,
            response_nonce=delivery.nonce,
            resource_names=_names(subscription),
            error_detail=Status(code=INVALID_ARGUMENT, message=message),
        )

    def resubscribe(
        self,
        previous: Subscription,
        subscription: Subscription,
        last_nonce: str,
        accepted_version: str,
    ) -> DiscoveryRequest:
        return DiscoveryRequest(
            type_url=subscription.type_url,
            version_info=accepted_version,
            response_nonce=last_nonce,
            resource_names=_names(subscription),
        )


def _names(subscription: Subscription) -> list[str]:
    # An empty list is the legacy wildcard; the client never sends one for an explicit type
    # before it has named something (see XdsClient), so an emptied list means "nothing".
    return [] if subscription.wildcard else sorted(subscription.names)


def _unwrap(packed: Any, type_url: str) -> tuple[str, bytes]:
    """A resource may come bare or inside a discovery ``Resource`` wrapper."""
    if packed.type_url == _WRAPPER_TYPE:
        wrapper = ResourceWrapper()
        try:
            wrapper.ParseFromString(packed.value)
        except Exception as error:
            raise ResourceUndecodable(f"cannot decode a Resource wrapper: {error}") from None
        packed = wrapper.resource
        name = str(wrapper.name)
    else:
        name = ""
    if packed.type_url != type_url:
        raise ResourceUndecodable(f"a {packed.type_url!r} in a {type_url!r} response")
    return name, bytes(packed.value)
