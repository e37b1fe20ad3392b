"""Delta (incremental) ADS: ``DeltaDiscoveryRequest`` and ``DeltaDiscoveryResponse``.

Responses bring changed resources, each with its own version, and ``removed_resources``. A new
stream's first request per type names what the client holds (``initial_resource_versions``),
so a reconnect resends nothing unchanged. ACK and NACK echo only the nonce; subscription
changes are sent as differences and apply whatever the nonce.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from envoy.service.discovery.v3.discovery_pb2 import (
    DeltaDiscoveryRequest,
    DeltaDiscoveryResponse,
)
from google.rpc.status_pb2 import Status

from dataplane.errors import ConfigRejected
from dataplane.xdsclient.errors import ResourceUndecodable
from dataplane.xdsclient.store import StoredResource
from dataplane.xdsclient.wire import INVALID_ARGUMENT, Delivery, Subscription, stored_resource

WILDCARD = "*"


class DeltaWire:
    flavour = "delta"

    def decode(self, response: DeltaDiscoveryResponse, received_at: float) -> Delivery:
        type_url = response.type_url
        resources: list[StoredResource] = []
        removed = list(response.removed_resources)
        problem = ""
        try:
            seen: set[str] = set()
            for entry in response.resources:
                if not entry.HasField("resource"):
                    # A named resource without a body: the server says it does not exist.
                    removed.append(entry.name)
                    continue
                if entry.resource.type_url != type_url:
                    raise ResourceUndecodable(
                        f"a {entry.resource.type_url!r} in a {type_url!r} response"
                    )
                serialized = bytes(entry.resource.value)
                resources.append(
                    stored_resource(
                        type_url, entry.name, serialized, entry.version, received_at, seen
                    )
                )
        except ConfigRejected as error:
            problem = str(error)
        return Delivery(
            type_url=type_url,
            nonce=response.nonce,
            version=response.system_version_info,
            resources=tuple(resources),
            removed=tuple(removed),
            problem=problem,
        )

    def initial(
        self,
        subscription: Subscription,
        held: Mapping[str, str],
        accepted_version: str,
        node: Any | None,
    ) -> DeltaDiscoveryRequest:
        names = [WILDCARD] if subscription.wildcard else sorted(subscription.names)
        request = DeltaDiscoveryRequest(
            type_url=subscription.type_url,
            resource_names_subscribe=names,
            initial_resource_versions=dict(held),
        )
        if node is not None:
            request.node.CopyFrom(node)
        return request

    def ack(self, delivery: Delivery, subscription: Subscription) -> DeltaDiscoveryRequest:
        return DeltaDiscoveryRequest(type_url=delivery.type_url, response_nonce=delivery.nonce)

    def nack(
        self,
        delivery: Delivery,
        subscription: Subscription,
        accepted_version: str,
        message: str,
    ) -> DeltaDiscoveryRequest:
        return DeltaDiscoveryRequest(
            type_url=delivery.type_url,
            response_nonce=delivery.nonce,
            error_detail=Status(code=INVALID_ARGUMENT, message=message),
        )

    def resubscribe(
        self,
        previous: Subscription,
        subscription: Subscription,
        last_nonce: str,
        accepted_version: str,
    ) -> DeltaDiscoveryRequest:
        return DeltaDiscoveryRequest(
            type_url=subscription.type_url,
            resource_names_subscribe=sorted(subscription.names - previous.names),
            resource_names_unsubscribe=sorted(previous.names - subscription.names),
        )
