"""State-of-the-world ADS: the per-stream protocol state machine, without any IO.

``receive`` takes each decoded ``DiscoveryRequest`` and records subscriptions, ACKs and NACKs;
``respond`` takes the gateway's current snapshot and returns the responses to send now, in
push order. A stream adapter calls ``receive`` for every request and ``respond`` whenever a
request arrived or the snapshot changed; ``respond`` is idempotent, so a late call only ever
sends the latest state.

Rules (Envoy's xDS protocol, XDS-NOTES.md): nonces are unique and increasing per stream; a
request whose nonce is not the latest one sent for its type is stale and ignored; the first
request per type on a stream is always answered; a pure ACK gets nothing; a NACK is recorded
and the rejected content is not sent again until it changes; listeners and clusters go out as
full state, the other types only carry subscribed names, and only new or changed ones.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from envoy.service.discovery.v3.discovery_pb2 import DiscoveryRequest, DiscoveryResponse
from google.protobuf.any_pb2 import Any as AnyProto

from controlplane.xds.machine import StreamMachineBase
from controlplane.xds.metrics import XdsMetrics
from controlplane.xds.push_policy import ROUTING_TYPES
from controlplane.xds.snapshot import Resource, Snapshot, versions_digest
from translator.xds import type_urls

FULL_STATE_TYPES = frozenset({type_urls.LISTENER, type_urls.CLUSTER})
WILDCARD = "*"


@dataclass(slots=True)
class _TypeState:
    seen: bool = False
    # The client named resources at least once: an empty list no longer means wildcard.
    explicit: bool = False
    wildcard: bool = False
    names: set[str] = field(default_factory=set)
    must_respond: bool = False
    # Names to send even if the client holds their current version.
    owed: set[str] = field(default_factory=set)
    # What the client holds from us (full state types) or may hold (the others).
    sent: dict[str, Resource] = field(default_factory=dict)
    sent_nonce: int = 0
    answered_nonce: int = 0
    nacked: bool = False

    def wants(self, name: str) -> bool:
        return self.wildcard or name in self.names


class SotwStream(StreamMachineBase):
    flavour = "sotw"

    def __init__(
        self, *, clock: Callable[[], float] = time.time, metrics: XdsMetrics | None = None
    ) -> None:
        super().__init__(clock=clock, metrics=metrics)
        self._types: dict[str, _TypeState] = {}

    def handle(
        self, request: DiscoveryRequest, snapshot: Snapshot | None
    ) -> list[DiscoveryResponse]:
        self.receive(request)
        return self.respond(snapshot)

    def receive(self, request: DiscoveryRequest) -> None:
        self._identify(request)
        state = self._types.setdefault(request.type_url, _TypeState())
        if not state.seen:
            # A first request may carry version and nonce from an earlier stream (reconnect):
            # they mean nothing here, and it is always answered.
            state.seen = True
            state.must_respond = True
            self._subscribe(state, request.resource_names)
            return
        if request.response_nonce != _nonce_text(state.sent_nonce):
            return
        nack = request.HasField("error_detail")
        if state.sent_nonce:
            self._answered(request, state, nack)
        grew = self._subscribe(state, request.resource_names)
        if grew and not (nack and request.type_url in FULL_STATE_TYPES):
            state.must_respond = True
        if request.type_url == type_urls.CLUSTER_LOAD_ASSIGNMENT:
            state.owed.update(
                name for name in self._policy.take_endpoints_owed() if state.wants(name)
            )

    def respond(self, snapshot: Snapshot | None) -> list[DiscoveryResponse]:
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
            selection = self._select(type_url, state, snapshot, retained)
            resources = self._due(type_url, state, selection)
            if resources is None:
                continue
            responses.append(self._build(type_url, state, selection, resources, snapshot))
        synced = not responses and not retained and self._all_answered()
        self.sync.synced_snapshot = snapshot.version if synced else ""
        return responses

    def _answered(self, request: DiscoveryRequest, state: _TypeState, nack: bool) -> None:
        state.answered_nonce = state.sent_nonce
        state.nacked = nack
        sync = self.sync.type_sync(request.type_url)
        sync.version_acked = request.version_info
        if nack:
            sync.last_nack = request.error_detail.message
            sync.last_nack_time = self._clock()
            sync.nacks += 1
            self._metrics.nacks += 1
        if request.type_url == type_urls.CLUSTER:
            self._policy.clusters_answered(state.sent_nonce)

    def _subscribe(self, state: _TypeState, resource_names: Iterable[str]) -> bool:
        """Apply the client's subscription; True when it now wants something new."""
        requested = set(resource_names)
        if requested:
            state.explicit = True
        wildcard = WILDCARD in requested or not state.explicit
        names = requested - {WILDCARD}
        grew = (wildcard and not state.wildcard) or not names <= state.names
        state.wildcard, state.names = wildcard, names
        if not wildcard:
            state.sent = {name: res for name, res in state.sent.items() if name in names}
        return grew

    def _push_order(self) -> list[str]:
        known = [url for url in type_urls.PUSH_ORDER if url in self._types]
        others = sorted(url for url in self._types if url not in type_urls.PUSH_ORDER)
        return known + others

    def _select(
        self, type_url: str, state: _TypeState, snapshot: Snapshot, retained: set[str]
    ) -> dict[str, Resource]:
        entries: Mapping[str, Resource] = snapshot.entries(type_url)
        if type_url == type_urls.CLUSTER and retained:
            entries = {**{name: state.sent[name] for name in retained}, **entries}
        if state.wildcard:
            return dict(entries)
        return {name: entries[name] for name in state.names if name in entries}

    def _due(
        self, type_url: str, state: _TypeState, selection: dict[str, Resource]
    ) -> list[Resource] | None:
        """What to send for one type, or None when the client is up to date."""
        changed = _changed(state, selection)
        owed = (state.owed & selection.keys()) - {res.name for res in changed}
        changed.extend(selection[name] for name in sorted(owed))
        if type_url in FULL_STATE_TYPES:
            removed = not state.sent.keys() <= selection.keys()
            if changed or removed or state.must_respond:
                return list(selection.values())
            return None
        if changed or state.must_respond:
            return changed
        return None

    def _build(
        self,
        type_url: str,
        state: _TypeState,
        selection: dict[str, Resource],
        resources: list[Resource],
        snapshot: Snapshot,
    ) -> DiscoveryResponse:
        self._nonce += 1
        if type_url == type_urls.CLUSTER:
            updated = [res.name for res in _changed(state, selection)]
            self._policy.clusters_sent(self._nonce, selection.keys() - state.sent.keys(), updated)
        elif type_url == type_urls.CLUSTER_LOAD_ASSIGNMENT:
            self._policy.endpoints_sent(res.name for res in resources)
        if type_url in FULL_STATE_TYPES:
            state.sent = dict(selection)
        else:
            state.sent.update((res.name, res) for res in resources)
        state.sent_nonce = self._nonce
        state.must_respond = False
        state.owed.clear()
        version = versions_digest({name: res.version for name, res in state.sent.items()})
        sync = self.sync.type_sync(type_url)
        sync.version_sent = version
        sync.nonce_sent = str(self._nonce)
        sync.snapshot_version = snapshot.version
        self._metrics.pushes += 1
        return DiscoveryResponse(
            version_info=version,
            type_url=type_url,
            nonce=str(self._nonce),
            resources=[
                AnyProto(type_url=type_url, value=res.serialized)
                for res in sorted(resources, key=lambda res: res.name)
            ],
        )

    def _retained_clusters(self, snapshot: Snapshot) -> set[str]:
        clusters = self._types.get(type_urls.CLUSTER)
        if clusters is None:
            return set()
        return self._policy.retained_clusters(
            clusters.sent, snapshot.entries(type_urls.CLUSTER), self._routes_settled(snapshot)
        )

    def _routes_settled(self, snapshot: Snapshot) -> bool:
        """The proxy runs, and has ACKed, the snapshot's listeners and routes."""
        if self._policy.routes_held():
            return False
        for type_url in ROUTING_TYPES:
            state = self._types.get(type_url)
            if state is None or not state.seen:
                continue
            if state.must_respond or state.nacked or state.answered_nonce != state.sent_nonce:
                return False
            selection = self._select(type_url, state, snapshot, set())
            if self._due(type_url, state, selection) is not None:
                return False
        return True


def _changed(state: _TypeState, selection: dict[str, Resource]) -> list[Resource]:
    return [
        res
        for name, res in selection.items()
        if (held := state.sent.get(name)) is None or held.version != res.version
    ]


def _nonce_text(nonce: int) -> str:
    return str(nonce) if nonce else ""
