"""Fake ADS clients that drive a protocol state machine directly and check every response.

Each response passes ``ResponseChecker.check``: nonces unique and increasing per stream, no
duplicate names, types of one push in push order (each at most once), versions present, and
for delta no name both updated and removed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from envoy.config.cluster.v3.cluster_pb2 import Cluster
from envoy.config.core.v3.base_pb2 import Node
from envoy.config.endpoint.v3.endpoint_pb2 import ClusterLoadAssignment
from envoy.config.listener.v3.listener_pb2 import Listener
from envoy.config.route.v3.route_pb2 import RouteConfiguration
from envoy.extensions.transport_sockets.tls.v3.secret_pb2 import Secret
from envoy.service.discovery.v3.discovery_pb2 import (
    DeltaDiscoveryRequest,
    DeltaDiscoveryResponse,
    DiscoveryRequest,
    DiscoveryResponse,
)
from google.protobuf.message import Message

from controlplane.xds.delta import DeltaStream
from controlplane.xds.snapshot import Snapshot
from controlplane.xds.sotw import SotwStream
from translator.xds import type_urls

GATEWAY = "default/gw"
CLOCK_NOW = 1_000.0

_MESSAGE_TYPES: dict[str, type[Message]] = {
    type_urls.LISTENER: Listener,
    type_urls.ROUTE_CONFIGURATION: RouteConfiguration,
    type_urls.CLUSTER: Cluster,
    type_urls.CLUSTER_LOAD_ASSIGNMENT: ClusterLoadAssignment,
    type_urls.SECRET: Secret,
}


def decode(type_url: str, value: bytes) -> Message:
    message = _MESSAGE_TYPES[type_url]()
    message.ParseFromString(value)
    return message


def resource_name(message: Message) -> str:
    if isinstance(message, ClusterLoadAssignment):
        return str(message.cluster_name)
    return str(message.name)


def names_of(response: DiscoveryResponse | DeltaDiscoveryResponse) -> list[str]:
    if isinstance(response, DeltaDiscoveryResponse):
        return [res.name for res in response.resources]
    return [resource_name(decode(response.type_url, any_.value)) for any_ in response.resources]


def _push_rank(type_url: str) -> int:
    order = type_urls.PUSH_ORDER
    return order.index(type_url) if type_url in order else len(order)


@dataclass
class ResponseChecker:
    """The protocol invariants every response of one stream must keep."""

    last_nonce: int = 0
    checked: int = 0

    def check(self, batch: Sequence[DiscoveryResponse | DeltaDiscoveryResponse]) -> None:
        types = [response.type_url for response in batch]
        assert len(types) == len(set(types)), f"a type twice in one push: {types}"
        ranks = [_push_rank(url) for url in types]
        assert ranks == sorted(ranks), f"push out of order: {types}"
        for response in batch:
            self.send(response)

    def send(self, response: DiscoveryResponse | DeltaDiscoveryResponse) -> None:
        nonce = int(response.nonce)
        assert nonce > self.last_nonce, f"nonce {nonce} after {self.last_nonce}"
        self.last_nonce = nonce
        names = names_of(response)
        assert len(names) == len(set(names)), f"duplicate names: {names}"
        if isinstance(response, DeltaDiscoveryResponse):
            removed = list(response.removed_resources)
            assert len(removed) == len(set(removed)), f"duplicate removals: {removed}"
            assert not set(names) & set(removed), f"updated and removed: {names} {removed}"
            assert all(res.version for res in response.resources)
            assert response.system_version_info
        else:
            assert response.version_info
        self.checked += 1


@dataclass
class SotwProxy:
    """Speaks SotW to a ``SotwStream`` the way a proxy would, one call per request."""

    node_id: str = "proxy-1"
    gateway: str = GATEWAY
    machine: SotwStream = field(default_factory=lambda: SotwStream(clock=lambda: CLOCK_NOW))
    checker: ResponseChecker = field(default_factory=ResponseChecker)
    # The latest response per type, and the version the proxy accepted per type.
    latest: dict[str, DiscoveryResponse] = field(default_factory=dict)
    accepted: dict[str, str] = field(default_factory=dict)
    subscriptions: dict[str, list[str]] = field(default_factory=dict)
    _first: bool = True

    def request(
        self,
        type_url: str,
        names: Iterable[str] | None = None,
        snapshot: Snapshot | None = None,
        *,
        nonce: str = "",
        version: str | None = None,
        error: str | None = None,
    ) -> list[DiscoveryResponse]:
        if names is not None:
            self.subscriptions[type_url] = list(names)
        request = DiscoveryRequest(
            type_url=type_url,
            resource_names=self.subscriptions.get(type_url, []),
            response_nonce=nonce,
            version_info=self.accepted.get(type_url, "") if version is None else version,
        )
        if self._first:
            request.node.CopyFrom(Node(id=self.node_id, cluster=self.gateway))
            self._first = False
        if error is not None:
            request.error_detail.code = 3
            request.error_detail.message = error
        return self._handled(self.machine.handle(request, snapshot))

    def ack(
        self,
        response: DiscoveryResponse,
        snapshot: Snapshot | None,
        names: Iterable[str] | None = None,
    ) -> list[DiscoveryResponse]:
        self.accepted[response.type_url] = response.version_info
        return self.request(response.type_url, names, snapshot, nonce=response.nonce)

    def nack(
        self, response: DiscoveryResponse, snapshot: Snapshot | None, error: str = "rejected"
    ) -> list[DiscoveryResponse]:
        return self.request(response.type_url, None, snapshot, nonce=response.nonce, error=error)

    def push(self, snapshot: Snapshot | None) -> list[DiscoveryResponse]:
        return self._handled(self.machine.respond(snapshot))

    def settle(self, snapshot: Snapshot, responses: Sequence[DiscoveryResponse]) -> int:
        """ACK everything until the server has nothing more to say; returns responses seen."""
        pending = list(responses)
        for seen in range(1_000):
            if not pending:
                return seen
            pending.extend(self.ack(pending.pop(0), snapshot))
        raise AssertionError("the server kept answering ACKs: a request loop")

    def _handled(self, responses: list[DiscoveryResponse]) -> list[DiscoveryResponse]:
        self.checker.check(responses)
        for response in responses:
            self.latest[response.type_url] = response
        return responses


@dataclass
class DeltaProxy:
    """Speaks delta to a ``DeltaStream``, tracking what it holds like a proxy would."""

    node_id: str = "proxy-1"
    gateway: str = GATEWAY
    machine: DeltaStream = field(default_factory=lambda: DeltaStream(clock=lambda: CLOCK_NOW))
    checker: ResponseChecker = field(default_factory=ResponseChecker)
    latest: dict[str, DeltaDiscoveryResponse] = field(default_factory=dict)
    # type URL to resource name to version held.
    held: dict[str, dict[str, str]] = field(default_factory=dict)
    _first: bool = True

    def request(
        self,
        type_url: str,
        snapshot: Snapshot | None = None,
        *,
        subscribe: Iterable[str] = (),
        unsubscribe: Iterable[str] = (),
        nonce: str = "",
        initial: Mapping[str, str] | None = None,
        error: str | None = None,
    ) -> list[DeltaDiscoveryResponse]:
        request = DeltaDiscoveryRequest(
            type_url=type_url,
            resource_names_subscribe=list(subscribe),
            resource_names_unsubscribe=list(unsubscribe),
            response_nonce=nonce,
            initial_resource_versions=dict(initial or {}),
        )
        if self._first:
            request.node.CopyFrom(Node(id=self.node_id, cluster=self.gateway))
            self._first = False
        if error is not None:
            request.error_detail.code = 3
            request.error_detail.message = error
        return self._handled(self.machine.handle(request, snapshot))

    def ack(
        self, response: DeltaDiscoveryResponse, snapshot: Snapshot | None
    ) -> list[DeltaDiscoveryResponse]:
        return self.request(response.type_url, snapshot, nonce=response.nonce)

    def nack(
        self, response: DeltaDiscoveryResponse, snapshot: Snapshot | None, error: str = "rejected"
    ) -> list[DeltaDiscoveryResponse]:
        return self.request(response.type_url, snapshot, nonce=response.nonce, error=error)

    def push(self, snapshot: Snapshot | None) -> list[DeltaDiscoveryResponse]:
        return self._handled(self.machine.respond(snapshot))

    def settle(self, snapshot: Snapshot, responses: Sequence[DeltaDiscoveryResponse]) -> int:
        pending = list(responses)
        for seen in range(1_000):
            if not pending:
                return seen
            pending.extend(self.ack(pending.pop(0), snapshot))
        raise AssertionError("the server kept answering ACKs: a request loop")

    def _handled(self, responses: list[DeltaDiscoveryResponse]) -> list[DeltaDiscoveryResponse]:
        self.checker.check(responses)
        for response in responses:
            self.latest[response.type_url] = response
            held = self.held.setdefault(response.type_url, {})
            held.update((res.name, res.version) for res in response.resources)
            for name in response.removed_resources:
                held.pop(name, None)
        return responses
