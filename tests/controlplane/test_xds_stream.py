"""The transport-free stream runner (reader task + writer) over the real cache, with in-memory
streams whose ``send`` checks every response.

Covers: the state machines and the runner importing no gRPC, the gateway naming convention,
registration in the sync status and metrics, invalid requests, a slow stream that only ever
gets the latest state and never holds up publishing, 100 streams under 1,000 rapid updates
ending at the latest version with bounded memory, and 1,000 connect/disconnect cycles leaving
no watch, status entry or task behind. Leaves out gRPC (test_xds_server.py).
"""

from __future__ import annotations

import asyncio
import gc
import subprocess
import sys
import tracemalloc
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import pytest
from envoy.config.core.v3.base_pb2 import Node
from envoy.service.discovery.v3.discovery_pb2 import (
    DeltaDiscoveryRequest,
    DeltaDiscoveryResponse,
    DiscoveryRequest,
    DiscoveryResponse,
)
from google.protobuf.struct_pb2 import Struct, Value

from controlplane.xds.cache import SnapshotCache
from controlplane.xds.delta import DeltaStream
from controlplane.xds.errors import MissingNodeId, MissingTypeUrl
from controlplane.xds.snapshot import Snapshot
from controlplane.xds.sotw import SotwStream
from controlplane.xds.stream import StreamHub, gateway_of, run_stream
from tests.controlplane import xds_samples as samples
from tests.controlplane.xds_fake_proxy import ResponseChecker
from tests.controlplane.xds_samples import CDS, EDS, LDS, RDS
from tests.envoy_harness import wait_for

GATEWAY = "default/gw"
TYPES = (CDS, EDS, LDS, RDS)

Request: TypeAlias = DiscoveryRequest | DeltaDiscoveryRequest
Response: TypeAlias = DiscoveryResponse | DeltaDiscoveryResponse


def _snapshot(index: int) -> Snapshot:
    """Endpoints change every time; the route flips between two clusters every 10th."""
    backends = {name: [("127.0.0.1", 1000 + index)] for name in ("a", "b")}
    return samples.gateway_snapshot(f"v{index}", backends, "ab"[index // 10 % 2])


@dataclass
class MemoryStream:
    """One ADS stream in memory; ``gate`` closed makes the proxy stop reading."""

    requests: asyncio.Queue[Request | None] = field(default_factory=asyncio.Queue)
    responses: asyncio.Queue[Response] = field(default_factory=asyncio.Queue)
    checker: ResponseChecker = field(default_factory=ResponseChecker)
    gate: asyncio.Event = field(default_factory=asyncio.Event)
    sent: int = 0

    def __post_init__(self) -> None:
        self.gate.set()

    async def incoming(self) -> AsyncIterator[Request]:
        while (request := await self.requests.get()) is not None:
            yield request

    async def send(self, response: Response) -> None:
        # A blocked write, like gRPC flow control with a proxy that stopped reading.
        await self.gate.wait()
        self.checker.send(response)
        self.sent += 1
        await self.responses.put(response)


def _node(gateway: str = GATEWAY) -> Node:
    return Node(id="proxy", metadata=Struct(fields={"gateway": Value(string_value=gateway)}))


def _first_requests(delta: bool) -> list[Request]:
    if delta:
        requests: list[Request] = [
            DeltaDiscoveryRequest(type_url=CDS),
            DeltaDiscoveryRequest(type_url=EDS, resource_names_subscribe=["a", "b"]),
            DeltaDiscoveryRequest(type_url=LDS),
            DeltaDiscoveryRequest(type_url=RDS, resource_names_subscribe=["gw/routes"]),
        ]
    else:
        names: dict[str, list[str]] = {EDS: ["a", "b"], RDS: ["gw/routes"]}
        requests = [
            DiscoveryRequest(type_url=url, resource_names=names.get(url, [])) for url in TYPES
        ]
    requests[0].node.CopyFrom(_node())
    return requests


def _ack(response: Response, names: dict[str, list[str]]) -> Request:
    if isinstance(response, DeltaDiscoveryResponse):
        return DeltaDiscoveryRequest(type_url=response.type_url, response_nonce=response.nonce)
    return DiscoveryRequest(
        type_url=response.type_url,
        response_nonce=response.nonce,
        version_info=response.version_info,
        resource_names=names.get(response.type_url, []),
    )


async def _auto_ack(stream: MemoryStream) -> None:
    names = {EDS: ["a", "b"], RDS: ["gw/routes"]}
    while True:
        response = await stream.responses.get()
        await stream.requests.put(_ack(response, names))


@dataclass
class Proxy:
    stream: MemoryStream
    runner: asyncio.Task[None]
    client: asyncio.Task[None] | None = None

    async def close(self) -> None:
        await self.stream.requests.put(None)
        await self.runner
        if self.client is not None:
            self.client.cancel()
            await asyncio.gather(self.client, return_exceptions=True)


async def _connect(hub: StreamHub, delta: bool, *, auto_ack: bool = True) -> Proxy:
    stream = MemoryStream()
    machine: Any = DeltaStream(metrics=hub.metrics) if delta else SotwStream(metrics=hub.metrics)
    runner = asyncio.create_task(run_stream(machine, stream.incoming(), stream.send, hub))
    for request in _first_requests(delta):
        await stream.requests.put(request)
    client = asyncio.create_task(_auto_ack(stream)) if auto_ack else None
    return Proxy(stream, runner, client)


def test_gateway_comes_from_metadata_then_cluster() -> None:
    assert gateway_of(_node("ns/one")) == "ns/one"
    number = Node(cluster="ns/two", metadata=Struct(fields={"gateway": Value(number_value=1)}))
    assert gateway_of(number) == "ns/two"
    assert gateway_of(Node(cluster="ns/three")) == "ns/three"
    assert gateway_of(Node()) == ""


@pytest.mark.parametrize("delta", [False, True])
async def test_a_stream_registers_syncs_and_leaves_nothing(delta: bool) -> None:
    hub = StreamHub(SnapshotCache())
    hub.cache.set_snapshot(GATEWAY, _snapshot(0))
    proxy = await _connect(hub, delta)
    await wait_for(lambda: _synced(hub, "v0"), timeout=5, message="synced")
    [entry] = hub.status.for_gateway(GATEWAY)
    assert (entry.node_id, entry.flavour) == ("proxy", "delta" if delta else "sotw")
    assert set(entry.types) == set(TYPES)
    assert hub.metrics.connected_proxies == 1 and hub.cache.watch_count(GATEWAY) == 1
    await proxy.close()
    assert len(hub.status) == 0 and hub.metrics.connected_proxies == 0
    assert hub.cache.watch_count() == 0


@pytest.mark.parametrize("delta", [False, True])
async def test_invalid_requests_end_the_stream(delta: bool) -> None:
    hub = StreamHub(SnapshotCache())
    for bad_first in (True, False):
        stream = MemoryStream()
        machine: Any = DeltaStream() if delta else SotwStream()
        first = _first_requests(delta)[0]
        if bad_first:
            first.ClearField("node")
        runner = asyncio.create_task(run_stream(machine, stream.incoming(), stream.send, hub))
        await stream.requests.put(first)
        if not bad_first:
            await stream.requests.put(type(first)())
        with pytest.raises(MissingNodeId if bad_first else MissingTypeUrl):
            async with asyncio.timeout(5):
                await runner
    assert len(hub.status) == 0 and hub.cache.watch_count() == 0


@pytest.mark.parametrize("delta", [False, True])
async def test_a_slow_stream_gets_only_the_latest_state_and_never_blocks_publishing(
    delta: bool,
) -> None:
    hub = StreamHub(SnapshotCache())
    hub.cache.set_snapshot(GATEWAY, _snapshot(0))
    proxy = await _connect(hub, delta)
    await wait_for(lambda: _synced(hub, "v0"), timeout=5, message="synced")
    proxy.stream.gate.clear()
    for index in range(1, 1_001):
        hub.cache.set_snapshot(GATEWAY, _snapshot(index))
        if index % 100 == 0:
            await asyncio.sleep(0)
    sent_while_stuck = proxy.stream.sent
    proxy.stream.gate.set()
    await wait_for(lambda: _synced(hub, "v1000"), timeout=10, message="synced to v1000")
    # A handful of pushes to catch up, never one per missed update.
    assert proxy.stream.sent - sent_while_stuck <= 3 * len(TYPES)
    await proxy.close()


async def test_many_streams_follow_rapid_updates_with_bounded_memory() -> None:
    hub = StreamHub(SnapshotCache())
    hub.cache.set_snapshot(GATEWAY, _snapshot(0))
    proxies = [await _connect(hub, delta=index % 2 == 1) for index in range(100)]
    await wait_for(lambda: _synced(hub, "v0"), timeout=20, message="100 proxies synced")
    gc.collect()
    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        for index in range(1, 1_001):
            hub.cache.set_snapshot(GATEWAY, _snapshot(index))
            if index % 10 == 0:
                await asyncio.sleep(0)
        await wait_for(lambda: _synced(hub, "v1000"), timeout=60, message="100 proxies at v1000")
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - baseline
    finally:
        tracemalloc.stop()
    # Holding on to old snapshots or queueing a response per update would cost megabytes.
    assert grown < 1_000_000, f"{grown} bytes retained after 1,000 updates"
    for proxy in proxies:
        await proxy.close()
    assert len(hub.status) == 0 and hub.cache.watch_count() == 0


async def test_connect_disconnect_cycles_leave_no_state_behind() -> None:
    hub = StreamHub(SnapshotCache())
    hub.cache.set_snapshot(GATEWAY, _snapshot(0))
    tasks_before = len(asyncio.all_tasks())
    for cycle in range(1_000):
        proxy = await _connect(hub, delta=cycle % 2 == 1, auto_ack=False)
        async with asyncio.timeout(5):
            await proxy.stream.responses.get()
        if cycle % 3 == 0:
            proxy.runner.cancel()
            await asyncio.gather(proxy.runner, return_exceptions=True)
        else:
            await proxy.close()
    assert len(hub.status) == 0
    assert hub.cache.watch_count() == 0
    assert hub.metrics.connected_proxies == 0
    assert len(asyncio.all_tasks()) == tasks_before


def _synced(hub: StreamHub, version: str) -> bool:
    proxies = list(hub.status)
    return bool(proxies) and all(p.stream.synced_snapshot == version for p in proxies)


def test_state_machines_and_stream_runner_import_no_grpc() -> None:
    code = (
        "import sys, controlplane.xds.sotw, controlplane.xds.delta, controlplane.xds.stream;"
        "sys.exit('grpc' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False, timeout=60).returncode == 0
