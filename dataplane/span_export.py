"""Spans leave a worker in batches, off the request path.

Each worker keeps one ``SpanExporter`` per export target (collector cluster, transport, service
name). ``add`` only appends to a bounded queue (full: the span is dropped and counted); a
background task sends up to ``BATCH_SIZE`` spans per ``ExportTraceServiceRequest``, at least
every ``EXPORT_INTERVAL`` and at once when a full batch waits. One export is in flight at a
time, to an endpoint of the collector's cluster picked as for any backend: OTLP/gRPC through the
proxy's unary gRPC client (h2c, or TLS when the cluster has a TLS context), OTLP/HTTP as one
HTTP/1.1 POST on the exporter's keep-alive connection (``dataplane.otlp_http``). The batch is
encoded here, in the background task, not when a request ends. A failed export drops its batch,
is counted, and is logged at most once per ``LOG_INTERVAL``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable, Mapping

import structlog

from dataplane.config.tracing import ExportTarget
from dataplane.errors import GrpcCallError, SpanExportError
from dataplane.grpc_unary import GrpcUnaryClient, grpc_status
from dataplane.otlp import encode_spans
from dataplane.otlp_http import CollectorConnection
from dataplane.stats import ProxyStats
from dataplane.tracing import Span
from dataplane.upstream.balancer import ClusterBalancer, pick_endpoint

QUEUE_CAPACITY = 2048
BATCH_SIZE = 512
EXPORT_INTERVAL = 1.0
LOG_INTERVAL = 10.0
log = structlog.get_logger("agw.tracing")


class SpanExporter:
    def __init__(
        self,
        target: ExportTarget,
        stats: ProxyStats,
        *,
        interval: float = EXPORT_INTERVAL,
        capacity: int = QUEUE_CAPACITY,
        batch_size: int = BATCH_SIZE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.target = target
        self.stats = stats
        self.interval = interval
        self.capacity = capacity
        self.batch_size = batch_size
        self._clock = clock
        self._queue: deque[Span] = deque()
        self._clusters: Mapping[str, ClusterBalancer] = {}
        self._batch_ready = asyncio.Event()
        self._grpc = GrpcUnaryClient() if target.grpc else None
        self._http = CollectorConnection() if not target.grpc else None
        self._logged_at = float("-inf")
        self._unlogged_failures = 0
        self._task = asyncio.get_running_loop().create_task(self._run())

    def bind(self, clusters: Mapping[str, ClusterBalancer]) -> None:
        """Export through the newest clusters (balancers by name) of the config in use."""
        self._clusters = clusters

    def add(self, span: Span) -> None:
        queue = self._queue
        if len(queue) >= self.capacity:
            self.stats.spans_dropped += 1
            return
        queue.append(span)
        if len(queue) >= self.batch_size:
            self._batch_ready.set()

    @property
    def queued(self) -> int:
        return len(self._queue)

    async def close(self, flush_timeout: float = 0.0) -> None:
        """Stop the background task; with a ``flush_timeout``, first try to send what is
        queued within it."""
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        if flush_timeout > 0:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(flush_timeout):
                    for _ in range(self.capacity // self.batch_size + 1):
                        if not self._queue:
                            break
                        await self._export_batch()
        self._queue.clear()
        if self._grpc is not None:
            self._grpc.close()
        if self._http is not None:
            self._http.close()

    async def _run(self) -> None:
        while True:  # until close() cancels it
            if len(self._queue) < self.batch_size:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.interval):
                        await self._batch_ready.wait()
            self._batch_ready.clear()
            await self._export_batch()

    async def _export_batch(self) -> None:
        queue = self._queue
        batch = [queue.popleft() for _ in range(min(len(queue), self.batch_size))]
        if not batch:
            return
        try:
            payload = encode_spans(self.target.service_name, batch)
            async with asyncio.timeout(self.target.timeout):
                await self._send(payload)
        except (SpanExportError, TimeoutError) as error:
            self._failed(str(error) or "timed out", len(batch))
            return
        except Exception as error:  # a defect here must not stop later exports
            self._failed(repr(error), len(batch))
            return
        self.stats.spans_exported += len(batch)

    async def _send(self, payload: bytes) -> None:
        target = self.target
        endpoint = pick_endpoint(self._clusters, target.cluster)
        if endpoint is None:
            raise SpanExportError(f"cluster {target.cluster!r} has no endpoint")
        if self._grpc is not None:
            try:
                answer = await self._grpc.call(endpoint, target.authority, target.path, payload)
                status = grpc_status(answer)
            except GrpcCallError as error:
                raise SpanExportError(str(error)) from None
            if status != 0:
                raise SpanExportError(f"Export failed with gRPC status {status}")
            return
        assert self._http is not None
        status = await self._http.post(endpoint, target.authority, target.path, payload)
        if not 200 <= status < 300:
            raise SpanExportError(f"collector answered HTTP {status}")

    def _failed(self, reason: str, spans: int) -> None:
        self.stats.span_exports_failed += 1
        self._unlogged_failures += 1
        now = self._clock()
        if now - self._logged_at < LOG_INTERVAL:
            return
        log.warning(
            "span export failed",
            cluster=self.target.cluster,
            error=reason,
            spans=spans,
            failures=self._unlogged_failures,
        )
        self._logged_at = now
        self._unlogged_failures = 0
