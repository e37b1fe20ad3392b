"""The ADS stream over grpc.aio: moves requests and responses between the control plane and
the protocol core (``XdsClient``), runs each accepted update through a ``ConfigSink`` before
acknowledging it, and reconnects with jittered backoff while the last config keeps serving.

Decoding and compiling run in a worker thread: a large update then never stalls the event
loop (gRPC keepalives, the admin server) for the whole compile. The core's ``prepare`` is
pure, and nothing else touches what it reads while the stream awaits it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
import structlog
from envoy.service.discovery.v3 import ads_pb2_grpc

from dataplane.errors import ConfigRejected, ListenerBindError
from dataplane.xdsclient.backoff import Backoff
from dataplane.xdsclient.client import PendingUpdate, Rejection, XdsClient
from dataplane.xdsclient.credentials import XdsCredentials
from dataplane.xdsclient.errors import CredentialsUnreadable
from dataplane.xdsclient.resource_types import SHORT_NAMES
from dataplane.xdsclient.sink import ConfigSink

log = structlog.get_logger("agw.xds")

CONNECT_TIMEOUT_SECONDS = 5.0
# How often a held CDS ACK is checked against its warming deadline, at most.
_EXPIRY_CHECK_SECONDS = 1.0
_CHANNEL_OPTIONS = [
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
    # A gateway with thousands of routes sends one RouteConfiguration of many megabytes.
    ("grpc.max_receive_message_length", 1 << 30),
    # While the control plane is down, retry connecting often enough that a restart costs
    # well under a second of staleness; AdsConnection's own backoff spaces the streams.
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.min_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 2_000),
]
_END = object()


class AdsConnection:
    def __init__(
        self,
        client: XdsClient,
        sink: ConfigSink,
        target: str,
        *,
        backoff: Backoff | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        connect_timeout: float = CONNECT_TIMEOUT_SECONDS,
        offload: bool = True,
        credentials: XdsCredentials | None = None,
    ) -> None:
        self.client = client
        self.sink = sink
        self.target = target
        self.credentials = credentials if credentials is not None else XdsCredentials()
        self.backoff = backoff if backoff is not None else Backoff()
        self._sleep = sleep
        self.connect_timeout = connect_timeout
        self.offload = offload
        client.status.server = target

    async def run(self) -> None:
        """Hold a stream open, reconnecting forever; cancel the task to stop."""
        while True:
            try:
                reason = await self._one_stream()
            except Exception as error:  # a bug ends the stream, never the client
                log.exception("xds stream failed", server=self.target)
                reason = f"{type(error).__name__}: {error}"
            self.client.stream_ended(reason)
            delay = self.backoff.next_delay()
            log.warning("xds stream ended", server=self.target, reason=reason, retry_in=delay)
            await self._sleep(delay)

    def _channel(self) -> grpc.aio.Channel:
        if self.credentials.is_secure:
            return grpc.aio.secure_channel(
                self.target, self.credentials.channel_credentials(), options=_CHANNEL_OPTIONS
            )
        return grpc.aio.insecure_channel(self.target, options=_CHANNEL_OPTIONS)

    async def _one_stream(self) -> str:
        try:
            channel = self._channel()
            metadata = self.credentials.call_metadata()
        except CredentialsUnreadable as error:
            return str(error)
        async with channel:
            try:
                await asyncio.wait_for(channel.channel_ready(), self.connect_timeout)
            except TimeoutError:
                return f"cannot connect within {self.connect_timeout}s"
            stub = ads_pb2_grpc.AggregatedDiscoveryServiceStub(channel)
            outbox: asyncio.Queue[Any] = asyncio.Queue()
            for request in self.client.start_stream():
                outbox.put_nowait(request)
            if self.client.wire.flavour == "delta":
                call = stub.DeltaAggregatedResources(_requests(outbox), metadata=metadata)
            else:
                call = stub.StreamAggregatedResources(_requests(outbox), metadata=metadata)
            self.client.status.connected = True
            log.info("xds stream opened", server=self.target, flavour=self.client.wire.flavour)
            expiry = asyncio.create_task(self._expire_held_acks(outbox), name="xds-expiry")
            try:
                async for response in call:
                    self.backoff.reset()
                    for request in await self._handle(response):
                        outbox.put_nowait(request)
                return "the server closed the stream"
            except grpc.aio.AioRpcError as error:
                return f"{error.code().name}: {error.details()}"
            finally:
                expiry.cancel()
                outbox.put_nowait(_END)
                call.cancel()
                # wait(), unlike awaiting the task, never swallows a cancellation of ours.
                await asyncio.wait([expiry])

    async def _handle(self, response: Any) -> list[Any]:
        def prepare() -> PendingUpdate | Rejection:
            return self.client.prepare(self.client.decode(response))

        outcome = await asyncio.to_thread(prepare) if self.offload else prepare()
        if isinstance(outcome, Rejection):
            return self._reject(outcome)
        if outcome.changes_config:
            try:
                await self.sink.apply(outcome.update)
            except (ConfigRejected, ListenerBindError) as error:
                return await self._failed(outcome, str(error))
            except Exception as error:  # a bug must cost a NACK, not a resend loop
                log.exception("running an update raised")
                return await self._failed(outcome, f"{type(error).__name__}: {error}")
        log.info(
            "xds update applied",
            type=SHORT_NAMES.get(outcome.delivery.type_url, outcome.delivery.type_url),
            version=outcome.delivery.version,
            config=outcome.update.version,
            warming_listeners=list(outcome.update.config.warming_listeners),
            warming_clusters=list(outcome.update.config.warming_clusters),
        )
        return self.client.commit(outcome)

    async def _failed(self, outcome: PendingUpdate, message: str) -> list[Any]:
        requests = self._reject(Rejection(outcome.delivery, message))
        await self._restore()
        return requests

    def _reject(self, rejection: Rejection) -> list[Any]:
        delivery = rejection.delivery
        log.error(
            "xds update rejected",
            type=SHORT_NAMES.get(delivery.type_url, delivery.type_url),
            version=delivery.version,
            error=rejection.message,
        )
        return self.client.reject(rejection)

    async def _restore(self) -> None:
        """An update that failed while running may have changed part of the proxy (one
        worker, one listener): put the accepted config back everywhere."""
        try:
            await self.sink.apply(self.client.update)
        except Exception as error:
            log.error("restoring the accepted config failed", error=str(error))

    async def _expire_held_acks(self, outbox: asyncio.Queue[Any]) -> None:
        while True:
            deadline = self.client.next_deadline()
            delay = _EXPIRY_CHECK_SECONDS
            if deadline is not None:
                delay = min(delay, max(0.0, deadline - self.client.clock()))
            await asyncio.sleep(delay)
            for request in self.client.expire():
                outbox.put_nowait(request)


async def _requests(outbox: asyncio.Queue[Any]) -> AsyncIterator[Any]:
    while True:
        request = await outbox.get()
        if request is _END:
            return
        yield request
