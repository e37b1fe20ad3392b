"""Delta (incremental) ADS: the per-stream protocol state machine, without any IO.

Same shape as ``sotw.SotwStream``: ``receive`` records each ``DeltaDiscoveryRequest``,
``respond`` returns what is due for the current snapshot, idempotently.

The machine tracks, per type, the version of every resource the client holds (seeded from
``initial_resource_versions`` on a new stream); versions are content hashes, so they survive
control-plane restarts and nothing unchanged is resent after a reconnect. Rules: every explicit
subscription after the first request is answered, even when the client already holds that
version; subscription changes apply whatever the nonce; unsubscribing needs no response; a
NACK is recorded and the rejected versions count as held, so they are not resent until they
change; resources the client holds that the snapshot dropped go out in ``removed_resources``,
clusters (and their endpoints) only once no route may still use them.

Envoy 1.40 on delta does not resubscribe EDS after a cluster update (SotW Envoy does re-request);
the updated cluster would warm until its 15 s initial fetch timeout. So every CDS response that
adds or changes clusters the client watches endpoints for is followed, in the same push, by
their ClusterLoadAssignments, changed or not.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from envoy.service.discovery.v3.discovery_pb2 import (
    DeltaDiscoveryRequest,
    DeltaDiscoveryResponse,
)
from envoy.service.discovery.v3.discovery_pb2 import Resource as ResourceProto
from google.protobuf.any_pb2 import Any as AnyProto

from controlplane.xds.machine import StreamMachineBase
from controlplane.xds.metrics import XdsMetrics
from controlplane.xds.push_policy import ROUTING_TYPES
from controlplane.xds.snapshot import Resource, Snapshot, versions_digest
from translator.xds import type_urls

WILDCARD = "*"
# A cluster kept for make-before-break keeps its endpoints too.
CLUSTER_TYPES = frozenset({type_urls.CLUSTER, type_urls.CLUSTER_LOAD_ASSIGNMENT})


@dataclass(slots=True)
class _TypeState:
    seen: bool = False
    wildcard: bool = False
    names: set[str] = field(default_factory=set)
    # Resource name to the version the client holds.
    held: dict[str, str] = field(default_factory=dict)
    # Names to send even if the client holds their current version.
    owed: set[str] = field(default_factory=set)
    must_respond: bool = False
    sent_nonce: int = 0
    answered_nonce: int = 0
    nacked: bool = False

    def wants(self, name: str) -> bool:
        return self.wildcard or name in self.names


@dataclass(slots=True)
class _Diff:
    updated: list[Resource]
    removed: list[str]

    def __bool__(self) -> bool:
        return bool(self.updated or self.removed)


class DeltaStream(StreamMachineBase):
    flavour = "delta"

    def __init__(
        self, *, clock: Callable[[], float] = time.time, metrics: XdsMetrics | None = None
    ) -> None:
        super().__init__(clock=clock, metrics=metrics)
        self._types: dict[str, _TypeState] = {}

    def handle(
        self, request: DeltaDiscoveryRequest, snapshot: Snapshot | None
    ) -> list[DeltaDiscoveryResponse]:
        self.receive(request)
        return self.respond(snapshot)

    def receive(self, request: DeltaDiscoveryRequest) -> None:
        self._identify(request)
        state = self._types.setdefault(request.type_url, _TypeState())
        first = not state.seen
        if first:
            self._first_request(state, request)
        elif request.response_nonce:
            self._answered(request, state)
        self._subscribe(state, request.resource_names_subscribe)
        self._unsubscribe(state, request.resource_names_unsubscribe)
        if first:
            # Honour initial_resource_versions: what the client holds at our version stays.
            state.owed.clear()

    def respond(self, snapshot: Snapshot | None) -> list[DeltaDiscoveryResponse]:
        """The responses due now for ``snapshot``; none while the gateway has no snapshot."""
        if snapshot is None:
            return []
        retained = self._retained_clusters(snapshot)
        self.sync.pending_cluster_removals = frozenset(retained)
        responses = []
        for type_url in self._push_order():
            if type_url in ROUTING_TYPES and self._policy.routes_held():
                continue
            state = self._types[type_url]
            kept = retained if type_url in CLUSTER_TYPES else set()
            diff = _diff(state, snapshot.entries(type_url), kept)
            if diff or state.must_respond:
                responses.append(self._build(type_url, state, diff, snapshot))
        synced = not responses and not retained and self._all_answered()
        self.sync.synced_snapshot = snapshot.version if synced else ""
        return responses

    def _first_request(self, state: _TypeState, request: DeltaDiscoveryRequest) -> None:
        state.seen = True
        # Answered even when it brings nothing new, so a proxy's initial fetch completes.
        state.must_respond = True
        state.held = dict(request.initial_resource_versions)
        # Legacy wildcard: a first request that names nothing wants everything.
        state.wildcard = not request.resource_names_subscribe

    def _answered(self, request: DeltaDiscoveryRequest, state: _TypeState) -> None:
        try:
            nonce = int(request.response_nonce)
        except ValueError:
            return
        nack = request.HasField("error_detail")
        sync = self.sync.type_sync(request.type_url)
        if nack:
            sync.last_nack = request.error_detail.message
            sync.last_nack_time = self._clock()
            sync.nacks += 1
            self._metrics.nacks += 1
        if nonce == state.sent_nonce:
            state.answered_nonce = nonce
            state.nacked = nack
            if not nack:
                sync.version_acked = sync.version_sent
        if request.type_url == type_urls.CLUSTER:
            self._policy.clusters_answered(nonce)

    @staticmethod
    def _subscribe(state: _TypeState, names: Iterable[str]) -> None:
        for name in names:
            if name == WILDCARD:
                state.wildcard = True
            else:
                state.names.add(name)
                state.owed.add(name)

    @staticmethod
    def _unsubscribe(state: _TypeState, names: Iterable[str]) -> None:
        for name in names:
            if name == WILDCARD:
                state.wildcard = False
                state.held = {n: v for n, v in state.held.items() if n in state.names}
                continue
            state.names.discard(name)
            state.owed.discard(name)
            # A wildcard client keeps what it unsubscribed by name: it still wants it.
            if not state.wildcard:
                state.held.pop(name, None)

    def _owe_endpoints(self) -> None:
        """Delta Envoy does not resubscribe EDS after a cluster update; the updated cluster
        warms until it sees its endpoints, so they follow in the same push."""
        endpoints = self._types.get(type_urls.CLUSTER_LOAD_ASSIGNMENT)
        owed = self._policy.take_endpoints_owed()
        if endpoints is not None:
            endpoints.owed.update(name for name in owed if endpoints.wants(name))

    def _push_order(self) -> list[str]:
        known = [url for url in type_urls.PUSH_ORDER if url in self._types]
        others = sorted(url for url in self._types if url not in type_urls.PUSH_ORDER)
        return known + others

    def _build(
        self, type_url: str, state: _TypeState, diff: _Diff, snapshot: Snapshot
    ) -> DeltaDiscoveryResponse:
        self._nonce += 1
        names = [res.name for res in diff.updated]
        if type_url == type_urls.CLUSTER:
            added = [name for name in names if name not in state.held]
            self._policy.clusters_sent(self._nonce, added, names)
            self._owe_endpoints()
        elif type_url == type_urls.CLUSTER_LOAD_ASSIGNMENT:
            self._policy.endpoints_sent(names)
        state.held.update((res.name, res.version) for res in diff.updated)
        for name in diff.removed:
            state.held.pop(name, None)
        state.owed.clear()
        state.must_respond = False
        state.sent_nonce = self._nonce
        sync = self.sync.type_sync(type_url)
        sync.version_sent = versions_digest(state.held)
        sync.nonce_sent = str(self._nonce)
        sync.snapshot_version = snapshot.version
        self._metrics.pushes += 1
        return DeltaDiscoveryResponse(
            system_version_info=snapshot.version,
            type_url=type_url,
            nonce=str(self._nonce),
            resources=[
                ResourceProto(
                    name=res.name,
                    version=res.version,
                    resource=AnyProto(type_url=type_url, value=res.serialized),
                )
                for res in sorted(diff.updated, key=lambda res: res.name)
            ],
            removed_resources=sorted(diff.removed),
        )

    def _retained_clusters(self, snapshot: Snapshot) -> set[str]:
        clusters = self._types.get(type_urls.CLUSTER)
        if clusters is None:
            return set()
        return self._policy.retained_clusters(
            clusters.held, snapshot.entries(type_urls.CLUSTER), self._routes_settled(snapshot)
        )

    def _routes_settled(self, snapshot: Snapshot) -> bool:
        """The proxy runs, and has ACKed, the snapshot's listeners and routes."""
        if self._policy.routes_held():
            return False
        for type_url in ROUTING_TYPES:
            state = self._types.get(type_url)
            if state is None:
                continue
            if state.must_respond or state.nacked or state.answered_nonce != state.sent_nonce:
                return False
            if _diff(state, snapshot.entries(type_url), set()):
                return False
        return True


def _diff(state: _TypeState, entries: Mapping[str, Resource], retained: set[str]) -> _Diff:
    updated = [
        res
        for name, res in entries.items()
        if state.wants(name) and (state.held.get(name) != res.version or name in state.owed)
    ]
    removed = [name for name in state.held if name not in entries and name not in retained]
    return _Diff(updated, removed)
