"""A harness, no tests: the proxy's xDS client core wired to the control plane's own
per-stream state machines (``SotwStream``, ``DeltaStream``) without gRPC, so client tests run
the real protocol on both ends in memory and check every request the client sends.

``Pair.exchange`` delivers the client's requests to the server, the server's responses to the
client, and repeats until nothing is due (bounded). Every accepted update lands in
``applied``; every request goes through ``check_request`` first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from envoy.service.discovery.v3.discovery_pb2 import DeltaDiscoveryRequest, DiscoveryRequest

from controlplane.xds.delta import DeltaStream
from controlplane.xds.snapshot import Snapshot
from controlplane.xds.sotw import SotwStream
from dataplane.xdsclient import DeltaWire, SotwWire, XdsClient, build_node
from dataplane.xdsclient.client import Rejection
from dataplane.xdsclient.resource_types import EXPLICIT_TYPES
from dataplane.xdsclient.sink import ConfigUpdate

GATEWAY = "default/gw"
MAX_ROUNDS = 30


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class Pair:
    flavour: str
    clock: FakeClock = field(default_factory=FakeClock)
    applied: list[ConfigUpdate] = field(default_factory=list)
    requests: list[Any] = field(default_factory=list)
    nacks: list[Any] = field(default_factory=list)
    # Requests waiting to reach the server.
    inbox: list[Any] = field(default_factory=list)

    def __post_init__(self) -> None:
        wire = DeltaWire() if self.flavour == "delta" else SotwWire()
        self.client = XdsClient(
            wire, build_node(GATEWAY, "test-proxy"), clock=self.clock, wall_clock=self.clock
        )
        self.server: Any = None

    def connect(self) -> None:
        """A new stream: a fresh server-side machine, the client's opening requests."""
        self.server = DeltaStream() if self.flavour == "delta" else SotwStream()
        self.inbox = self.client.start_stream()
        self._first = True

    def exchange(self, snapshot: Snapshot | None) -> int:
        """Run requests and responses until quiet; the number of responses exchanged."""
        exchanged = 0
        for _ in range(MAX_ROUNDS):
            for request in self.inbox:
                self.check_request(request)
                self.server.receive(request)
            self.inbox = []
            responses = self.server.respond(snapshot)
            if not responses:
                return exchanged
            for response in responses:
                exchanged += 1
                self.inbox += self.deliver(response)
        raise AssertionError(f"no quiescence after {MAX_ROUNDS} rounds")

    def deliver(self, response: Any) -> list[Any]:
        """The client's whole handling of one response, with every update applied."""
        outcome = self.client.prepare(self.client.decode(response))
        if isinstance(outcome, Rejection):
            return self.client.reject(outcome)
        if outcome.changes_config:
            self.applied.append(outcome.update)
        return self.client.commit(outcome)

    def check_request(self, request: Any) -> None:
        self.requests.append(request)
        assert request.HasField("node") == self._first, "the node goes on the first request only"
        self._first = False
        if request.HasField("error_detail"):
            assert request.error_detail.code == 3 and request.error_detail.message
            assert request.response_nonce
            self.nacks.append(request)
        if isinstance(request, DiscoveryRequest) and request.type_url in EXPLICIT_TYPES:
            assert "*" not in request.resource_names
        if isinstance(request, DeltaDiscoveryRequest) and request.type_url in EXPLICIT_TYPES:
            assert "*" not in request.resource_names_subscribe

    @property
    def config(self) -> Any:
        return self.client.update.config

    def proto_names(self, type_url: str) -> set[str]:
        return set(self.client.store.of(type_url))
