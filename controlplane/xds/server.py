"""The ADS gRPC service (grpc.aio): both ``StreamAggregatedResources`` (state of the world)
and ``DeltaAggregatedResources`` over one ``SnapshotCache``.

Which gateway a proxy serves comes from its node, in the first request of a stream:
``node.metadata["gateway"]`` as the string ``"NAMESPACE/NAME"``, or, when that key is absent,
``node.cluster`` (so ``envoy --service-cluster NAMESPACE/NAME`` also works). A proxy of a
gateway that has no snapshot yet keeps its stream open and gets resources once one is
published; removing a gateway's snapshot leaves its proxies on their last configuration.

Each stream runs one reader task and one writer (``controlplane.xds.stream``); a stream that
breaks the protocol ends with ``INVALID_ARGUMENT``.

With an ``authenticator`` (Kubernetes: ``controlplane.xds.auth``), the first request of a
stream is held until the authenticator accepts the stream's metadata for the gateway that
request's node names; a refused stream ends with the authenticator's status code before any
response. With ``credentials`` the port serves TLS instead of plaintext.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterable, AsyncIterator, Callable
from typing import TypeVar

import grpc
from envoy.service.discovery.v3 import ads_pb2_grpc
from envoy.service.discovery.v3.discovery_pb2 import (
    DeltaDiscoveryRequest,
    DeltaDiscoveryResponse,
    DiscoveryRequest,
    DiscoveryResponse,
)

from controlplane.xds.auth import Authenticator, ProxyRejected
from controlplane.xds.cache import SnapshotCache
from controlplane.xds.delta import DeltaStream
from controlplane.xds.errors import InvalidDiscoveryRequest
from controlplane.xds.metrics import XdsMetrics
from controlplane.xds.sotw import SotwStream
from controlplane.xds.stream import StreamHub, StreamMachine, gateway_of, run_stream
from controlplane.xds.sync_status import SyncStatus

RequestT = TypeVar("RequestT")
ResponseT = TypeVar("ResponseT")

# Envoy keeps its ADS connection alive with HTTP/2 pings (see controlplane.bootstrap); gRPC's
# defaults would answer pings more often than every five minutes with GOAWAY.
_SERVER_OPTIONS = [
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_recv_ping_interval_without_data_ms", 10_000),
    ("grpc.http2.max_ping_strikes", 0),
    # Two control planes on one port would split the proxies between them without a word.
    ("grpc.so_reuseport", 0),
]


class AggregatedDiscoveryServicer(ads_pb2_grpc.AggregatedDiscoveryServiceServicer):  # type: ignore[misc]
    def __init__(self, hub: StreamHub, authenticator: Authenticator | None = None) -> None:
        self.hub = hub
        self.authenticator = authenticator

    async def StreamAggregatedResources(
        self,
        request_iterator: AsyncIterable[DiscoveryRequest],
        context: grpc.aio.ServicerContext[DiscoveryRequest, DiscoveryResponse],
    ) -> None:
        machine = SotwStream(clock=self.hub.clock, metrics=self.hub.metrics)
        await self._serve(machine, request_iterator, context)

    async def DeltaAggregatedResources(
        self,
        request_iterator: AsyncIterable[DeltaDiscoveryRequest],
        context: grpc.aio.ServicerContext[DeltaDiscoveryRequest, DeltaDiscoveryResponse],
    ) -> None:
        machine = DeltaStream(clock=self.hub.clock, metrics=self.hub.metrics)
        await self._serve(machine, request_iterator, context)

    async def _serve(
        self,
        machine: StreamMachine[RequestT, ResponseT],
        requests: AsyncIterable[RequestT],
        context: grpc.aio.ServicerContext[RequestT, ResponseT],
    ) -> None:
        if self.authenticator is not None:
            requests = await self._authenticated(self.authenticator, requests, context)
        try:
            await run_stream(machine, requests, context.write, self.hub)
        except InvalidDiscoveryRequest as error:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))

    @staticmethod
    async def _authenticated(
        authenticator: Authenticator,
        requests: AsyncIterable[RequestT],
        context: grpc.aio.ServicerContext[RequestT, ResponseT],
    ) -> AsyncIterable[RequestT]:
        """The same requests, once the first one's gateway is authorised (else abort)."""
        iterator = aiter(requests)
        try:
            first = await anext(iterator)
        except StopAsyncIteration:
            return iterator
        node = getattr(first, "node", None)
        gateway = gateway_of(node) if node is not None else ""
        metadata = {key: str(value) for key, value in context.invocation_metadata() or ()}
        try:
            await authenticator.authenticate(metadata, gateway)
        except ProxyRejected as rejected:
            await context.abort(rejected.code, str(rejected))
        return _prepended(first, iterator)


async def _prepended(first: RequestT, rest: AsyncIterator[RequestT]) -> AsyncIterator[RequestT]:
    yield first
    async for request in rest:
        yield request


async def serve(
    cache: SnapshotCache,
    address: str,
    *,
    status: SyncStatus | None = None,
    metrics: XdsMetrics | None = None,
    clock: Callable[[], float] = time.time,
    authenticator: Authenticator | None = None,
    credentials: grpc.ServerCredentials | None = None,
) -> grpc.aio.Server:
    """Start an ADS server on ``address`` ("HOST:PORT"; TLS with ``credentials``, else
    plaintext), authenticating streams with ``authenticator`` if given; the caller stops it."""
    hub = StreamHub(
        cache,
        status if status is not None else SyncStatus(),
        metrics if metrics is not None else XdsMetrics(),
        clock,
    )
    server = grpc.aio.server(options=_SERVER_OPTIONS)
    ads_pb2_grpc.add_AggregatedDiscoveryServiceServicer_to_server(
        AggregatedDiscoveryServicer(hub, authenticator), server
    )
    if credentials is not None:
        server.add_secure_port(address, credentials)
    else:
        server.add_insecure_port(address)
    await server.start()
    return server
