"""The parent's side of the worker pool: start N workers, ship them every accepted config,
restart the ones that die, gather their counters, drain them on shutdown.

``WorkerPool`` is a ``ConfigSink``: ``apply`` returns once every live worker has applied the
update (so the xDS client ACKs only then) and raises ``ConfigRejected`` with the first
worker's reason when one could not. A worker that does not answer within ``apply_timeout``
is killed and replaced; a replacement gets the current config as its first frame, and every
worker then only what each update changes (dataplane.workers.channel).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog

from dataplane.errors import ConfigRejected
from dataplane.workers.channel import (
    Kind,
    decode_json,
    encode_changes,
    encode_config,
    json_frame,
    read_frame,
)
from dataplane.workers.counters import CounterTotals, Snapshot
from dataplane.xdsclient.backoff import Backoff
from dataplane.xdsclient.sink import ConfigUpdate

log = structlog.get_logger("agw.workers")

APPLY_TIMEOUT_SECONDS = 60.0
# A worker that ran this long before dying restarts without the backoff it had built up.
STABLE_SECONDS = 10.0
# After the drain timeout, how long workers get to exit before they are killed.
EXIT_GRACE_SECONDS = 3.0
WORKER_MODULE = "dataplane.workers.worker"


@dataclass
class WorkerProcess:
    index: int
    process: asyncio.subprocess.Process
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    started_at: float
    applied_sequence: int = 0
    applied_version: str = ""
    # Has applied a complete config at least once: it serves every listener.
    ready: bool = False
    stats: Snapshot = field(default_factory=dict)
    # Sequence number of a config to the error it failed with, or None when applied.
    waiters: dict[int, asyncio.Future[str | None]] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return int(self.process.pid)

    def send(self, data: bytes) -> None:
        if not self.writer.is_closing():
            self.writer.write(data)


class WorkerPool:
    def __init__(
        self,
        count: int,
        *,
        stats_interval: float = 1.0,
        log_level: str = "info",
        apply_timeout: float = APPLY_TIMEOUT_SECONDS,
        python: str = sys.executable,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if count < 1:
            raise ValueError("a worker pool needs at least one worker")
        self.count = count
        self.stats_interval = stats_interval
        self.log_level = log_level
        self.apply_timeout = apply_timeout
        self.python = python
        self.clock = clock
        self.workers: dict[int, WorkerProcess] = {}
        self.restarts = 0
        self.totals = CounterTotals()
        self._sequence = 0
        # The latest update, as every worker holds it once it answered (a new worker gets it
        # whole; running ones get what each update changes).
        self._current: ConfigUpdate | None = None
        self._stopping = False
        self._supervisors: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Start every worker; an update applied from now on reaches all of them."""
        for index in range(self.count):
            worker = await self._spawn(index)
            self._supervisors.append(
                asyncio.create_task(self._supervise(index, worker), name=f"worker-{index}")
            )

    @property
    def ready(self) -> bool:
        """Every worker runs and has applied a complete config."""
        return (
            not self._stopping
            and len(self.workers) == self.count
            and all(worker.ready for worker in self.workers.values())
        )

    def running(self) -> int:
        return len(self.workers)

    def counters(self) -> Snapshot:
        return self.totals.total(worker.stats for worker in self.workers.values())

    def worker_counters(self) -> dict[int, Snapshot]:
        """The live workers' own counters, by worker index."""
        return {index: worker.stats for index, worker in sorted(self.workers.items())}

    async def apply(self, update: ConfigUpdate) -> None:
        self._sequence += 1
        sequence = self._sequence
        if self._current is None:
            data = encode_config(sequence, update.version, update.resources)
        else:
            data = encode_changes(
                sequence, update.version, update.resources, self._current.resources
            )
        self._current = update
        loop = asyncio.get_running_loop()
        waiting: dict[asyncio.Future[str | None], WorkerProcess] = {}
        for worker in list(self.workers.values()):
            future: asyncio.Future[str | None] = loop.create_future()
            worker.waiters[sequence] = future
            waiting[future] = worker
            worker.send(data)
        if not waiting:
            return
        done, late = await asyncio.wait(waiting, timeout=self.apply_timeout)
        for future in late:
            worker = waiting[future]
            log.error("worker did not apply in time", worker=worker.index, sequence=sequence)
            with contextlib.suppress(ProcessLookupError):
                worker.process.kill()
        errors = [error for future in done if (error := future.result()) is not None]
        if errors:
            raise ConfigRejected(errors[0])

    async def stop(self, drain_seconds: float) -> None:
        """Drain every worker (stop accepting, finish in-flight exchanges within
        ``drain_seconds``), then wait for them to exit; kill what remains."""
        self._stopping = True
        workers = list(self.workers.values())
        for worker in workers:
            worker.send(json_frame(Kind.DRAIN, {"seconds": drain_seconds}))
        exits = [asyncio.ensure_future(worker.process.wait()) for worker in workers]
        if exits:
            _, late = await asyncio.wait(exits, timeout=drain_seconds + EXIT_GRACE_SECONDS)
            for worker in workers:
                if worker.process.returncode is None:
                    log.error("worker did not drain in time; killing it", worker=worker.index)
                    with contextlib.suppress(ProcessLookupError):
                        worker.process.kill()
            if late:
                await asyncio.wait(late)
        # Supervisors end by themselves once their worker exited, after folding in its
        # final counters; cancelling is only for one stuck on a channel that never closed.
        if self._supervisors:
            await asyncio.wait(self._supervisors, timeout=EXIT_GRACE_SECONDS)
        for task in self._supervisors:
            task.cancel()
        await asyncio.gather(*self._supervisors, return_exceptions=True)

    async def _supervise(self, index: int, worker: WorkerProcess) -> None:
        try:
            await self._keep_running(index, worker)
        except asyncio.CancelledError:
            current = self.workers.get(index)
            if current is not None and current.process.returncode is None:
                current.process.kill()
            raise

    async def _keep_running(self, index: int, worker: WorkerProcess) -> None:
        backoff = Backoff(0.05, 5.0)
        while True:
            await self._serve(worker)
            code = await worker.process.wait()
            self._retire(worker)
            if self._stopping:
                return
            self.restarts += 1
            log.error("worker exited; restarting", worker=index, pid=worker.pid, code=code)
            if self.clock() - worker.started_at > STABLE_SECONDS:
                backoff.reset()
            replacement = None
            while replacement is None and not self._stopping:
                await asyncio.sleep(backoff.next_delay())
                try:
                    replacement = await self._spawn(index)
                except OSError as error:
                    log.error("cannot start worker", worker=index, error=str(error))
            if replacement is None:
                return
            worker = replacement

    async def _spawn(self, index: int) -> WorkerProcess:
        parent_end, child_end = socket.socketpair()
        try:
            process = await asyncio.create_subprocess_exec(
                self.python, "-m", WORKER_MODULE,
                "--channel-fd", str(child_end.fileno()),
                "--index", str(index),
                "--workers", str(self.count),
                "--stats-interval", str(self.stats_interval),
                "--log-level", self.log_level,
                pass_fds=(child_end.fileno(),),
                stdin=asyncio.subprocess.DEVNULL,
            )  # fmt: skip
        except OSError:
            parent_end.close()
            raise
        finally:
            child_end.close()
        reader, writer = await asyncio.open_unix_connection(sock=parent_end)
        worker = WorkerProcess(index, process, reader, writer, self.clock())
        self.workers[index] = worker
        log.info("worker started", worker=index, pid=process.pid)
        if self._current is not None:
            current = self._current
            worker.send(encode_config(self._sequence, current.version, current.resources))
        if self._stopping:
            worker.send(json_frame(Kind.DRAIN, {"seconds": 0.0}))
        return worker

    async def _serve(self, worker: WorkerProcess) -> None:
        """Handle the worker's frames until its channel ends."""
        while (received := await read_frame(worker.reader)) is not None:
            self._handle(worker, *received)

    def _handle(self, worker: WorkerProcess, kind: Kind, payload: bytes) -> None:
        data = decode_json(payload)
        if kind == Kind.STATS:
            worker.stats = data
        elif kind == Kind.APPLIED:
            worker.applied_sequence = int(data["sequence"])
            worker.applied_version = str(data["version"])
            worker.ready = worker.ready or bool(data["complete"])
            self._settle(worker, worker.applied_sequence, None)
        elif kind == Kind.FAILED:
            self._settle(worker, int(data["sequence"]), str(data["error"]))

    @staticmethod
    def _settle(worker: WorkerProcess, sequence: int, error: str | None) -> None:
        future = worker.waiters.pop(sequence, None)
        if future is not None and not future.done():
            future.set_result(error)

    def _retire(self, worker: WorkerProcess) -> None:
        if self.workers.get(worker.index) is worker:
            del self.workers[worker.index]
        self.totals.retire(worker.stats)
        worker.writer.close()
        # A config the dead worker never answered is not its fault: its replacement gets it.
        for future in worker.waiters.values():
            if not future.done():
                future.set_result(None)
        worker.waiters.clear()
