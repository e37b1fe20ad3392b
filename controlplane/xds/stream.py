"""One ADS stream, transport aside: a reader task feeds the protocol state machine, and a writer
sends whatever the machine says is due, on a request or a snapshot change.

Both wake the writer through one ``asyncio.Event``; the writer asks the machine for responses
only when it is ready to send, against the latest snapshot. A slow proxy therefore never has
more than one response per type pending, and never slows the publisher or other streams.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from envoy.config.core.v3.base_pb2 import Node

from controlplane.xds.cache import SnapshotCache
from controlplane.xds.metrics import XdsMetrics
from controlplane.xds.snapshot import Snapshot
from controlplane.xds.sync_status import ProxySync, StreamSync, SyncStatus

RequestT = TypeVar("RequestT")
ResponseT = TypeVar("ResponseT")
RequestT_contra = TypeVar("RequestT_contra", contravariant=True)
ResponseT_co = TypeVar("ResponseT_co", covariant=True)

GATEWAY_METADATA_KEY = "gateway"


class StreamMachine(Protocol[RequestT_contra, ResponseT_co]):
    flavour: str
    node: Node | None
    sync: StreamSync

    def receive(self, request: RequestT_contra) -> None: ...

    def respond(self, snapshot: Snapshot | None) -> Sequence[ResponseT_co]: ...


@dataclass
class StreamHub:
    """What every stream of one server shares."""

    cache: SnapshotCache
    status: SyncStatus = field(default_factory=SyncStatus)
    metrics: XdsMetrics = field(default_factory=XdsMetrics)
    clock: Callable[[], float] = time.time


def gateway_of(node: Node) -> str:
    """``node.metadata["gateway"]`` when it is a non-empty string, else ``node.cluster``."""
    value = node.metadata.fields.get(GATEWAY_METADATA_KEY)
    if value is not None and value.WhichOneof("kind") == "string_value" and value.string_value:
        return str(value.string_value)
    return str(node.cluster)


@dataclass
class _Stream(Generic[RequestT, ResponseT]):
    machine: StreamMachine[RequestT, ResponseT]
    requests: AsyncIterator[RequestT]
    hub: StreamHub
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)

    async def read(self) -> None:
        try:
            async for request in self.requests:
                self.hub.metrics.requests += 1
                self.machine.receive(request)
                self.wakeup.set()
        finally:
            self.wakeup.set()


async def run_stream(
    machine: StreamMachine[RequestT, ResponseT],
    requests: AsyncIterable[RequestT],
    send: Callable[[ResponseT], Awaitable[object]],
    hub: StreamHub,
) -> None:
    """Serve one stream until the proxy goes away; raises ``InvalidDiscoveryRequest``."""
    iterator = aiter(requests)
    try:
        first = await anext(iterator)
    except StopAsyncIteration:
        return
    hub.metrics.requests += 1
    machine.receive(first)
    assert machine.node is not None  # receive() rejects a first request without one
    stream = _Stream(machine, iterator, hub)
    gateway = gateway_of(machine.node)
    stream_id = hub.status.next_stream_id()
    proxy = ProxySync(
        stream_id, machine.node.id, gateway, machine.flavour, hub.clock(), machine.sync
    )
    hub.status.add(proxy)
    hub.metrics.connected_proxies += 1
    watch = hub.cache.watch(gateway, stream.wakeup)
    reader = asyncio.create_task(stream.read(), name=f"ads-read-{stream_id}")
    stream.wakeup.set()
    try:
        await _write(stream, gateway, reader, send)
    finally:
        reader.cancel()
        watch.close()
        hub.status.discard(stream_id)
        hub.metrics.connected_proxies -= 1
        await asyncio.wait([reader])
        if not reader.cancelled():
            # Retrieved, so a transport error after the writer stopped is not logged as lost.
            reader.exception()


async def _write(
    stream: _Stream[RequestT, ResponseT],
    gateway: str,
    reader: asyncio.Task[None],
    send: Callable[[ResponseT], Awaitable[object]],
) -> None:
    while True:
        await stream.wakeup.wait()
        stream.wakeup.clear()
        if reader.done():
            reader.result()
            return
        for response in stream.machine.respond(stream.hub.cache.get(gateway)):
            await send(response)
