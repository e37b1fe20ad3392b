"""One worker process: ``python -m dataplane.workers.worker --channel-fd N --index I``.

It runs a ``Proxy`` on its own event loop (uvloop when installed), binds its own listener
sockets with SO_REUSEPORT so every worker accepts on the same ports, and obeys its parent over
the channel: a CONFIG frame (the whole config, or what changed since the last one) is
compiled and applied, then answered APPLIED or FAILED; a frame it cannot take in makes it
exit, to be replaced by a worker that gets the whole config; DRAIN stops accepting, lets
in-flight exchanges finish (bounded) and exits. Counters go to the
parent every ``--stats-interval`` seconds. SIGTERM drains too; SIGINT is left to the parent,
which drains the whole pool. End of the channel means the parent is gone: exit at once.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import os
import signal
import socket
import sys
from collections.abc import Sequence

import structlog

from dataplane.config import compile_config
from dataplane.errors import ConfigRejected, ListenerBindError
from dataplane.listener import bind_socket
from dataplane.proxy import Proxy
from dataplane.ratelimit import set_worker_share
from dataplane.workers.channel import (
    Held,
    Kind,
    decode_config,
    decode_json,
    json_frame,
    read_frame,
)
from dataplane.workers.counters import take_snapshot
from dataplane.workers.log import configure_logging

log = structlog.get_logger("agw.worker")

DEFAULT_DRAIN_SECONDS = 5.0


class Worker:
    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        index: int,
        stats_interval: float,
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.index = index
        self.stats_interval = stats_interval
        self.proxy = Proxy(
            socket_factory=functools.partial(bind_socket, reuse_port=True),
            datagram_socket_factory=functools.partial(bind_socket, reuse_port=True, datagram=True),
        )
        self.drain_seconds: float | None = None
        self.drain_requested = asyncio.Event()
        # The resources the parent sent so far (changes frames build on them).
        self.held: Held | None = None

    async def run(self) -> int:
        self.writer.write(json_frame(Kind.HELLO, {"index": self.index, "pid": os.getpid()}))
        stats = asyncio.create_task(self._send_stats(), name="worker-stats")
        commands = asyncio.create_task(self._obey(), name="worker-commands")
        drain = asyncio.create_task(self.drain_requested.wait(), name="worker-drain")
        try:
            await asyncio.wait({commands, drain}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stats.cancel()
            commands.cancel()
            drain.cancel()
        if self.drain_seconds is None:
            # The parent went away: nobody is left to report to or to wait for.
            await self.proxy.close(0.0)
            return 0
        await self.proxy.close(self.drain_seconds)
        self._send(json_frame(Kind.STATS, take_snapshot(self.proxy.stats)))
        self._send(json_frame(Kind.DRAINED, {"index": self.index}))
        with contextlib.suppress(ConnectionError):
            await self.writer.drain()
        return 0

    def request_drain(self, seconds: float) -> None:
        if self.drain_seconds is None:
            self.drain_seconds = seconds
        self.drain_requested.set()

    async def _obey(self) -> None:
        while True:
            received = await read_frame(self.reader)
            if received is None:
                return
            kind, payload = received
            if kind == Kind.CONFIG:
                if not await self._apply(payload):
                    return  # exits: the pool starts a replacement with the whole config
            elif kind == Kind.DRAIN:
                self.request_drain(float(decode_json(payload).get("seconds", 0.0)))
                return

    async def _apply(self, payload: bytes) -> bool:
        """False when the frame could not be taken in: what this worker holds is then no
        longer what the parent's next changes build on."""
        try:
            shipped = decode_config(payload)
            self.held, resources = shipped.apply(self.held)
        except Exception:
            log.exception("a config frame could not be read", worker=self.index)
            return False
        sequence = shipped.sequence
        try:
            config = compile_config(resources, shipped.version)
            await self.proxy.apply(config)
        except (ConfigRejected, ListenerBindError) as error:
            self._fail(sequence, str(error))
            return True
        except Exception as error:  # a bug must cost a NACK, not the worker
            log.exception("applying a config raised", worker=self.index, sequence=sequence)
            self._fail(sequence, f"{type(error).__name__}: {error}")
            return True
        self._send(
            json_frame(
                Kind.APPLIED,
                {
                    "sequence": sequence,
                    "version": shipped.version,
                    "complete": config.is_complete,
                },
            )
        )
        return True

    def _fail(self, sequence: int, error: str) -> None:
        log.error("config failed", worker=self.index, sequence=sequence, error=error)
        self._send(json_frame(Kind.FAILED, {"sequence": sequence, "error": error}))

    async def _send_stats(self) -> None:
        while True:
            await asyncio.sleep(self.stats_interval)
            self._send(json_frame(Kind.STATS, take_snapshot(self.proxy.stats)))

    def _send(self, data: bytes) -> None:
        if not self.writer.is_closing():
            self.writer.write(data)


async def serve_worker(channel: socket.socket, index: int, stats_interval: float) -> int:
    reader, writer = await asyncio.open_unix_connection(sock=channel)
    worker = Worker(reader, writer, index, stats_interval)
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, worker.request_drain, DEFAULT_DRAIN_SECONDS)
    try:
        return await worker.run()
    finally:
        writer.close()


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="agw-proxy-worker")
    parser.add_argument("--channel-fd", type=int, required=True)
    parser.add_argument("--index", type=int, default=0)
    parser.add_argument("--workers", type=int, default=1, help="how many workers share limits")
    parser.add_argument("--stats-interval", type=float, default=1.0)
    parser.add_argument("--log-level", default="info")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _arguments(argv)
    # Ctrl-C reaches the whole process group; the parent turns it into an orderly drain.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    configure_logging(args.log_level)
    structlog.contextvars.bind_contextvars(worker=args.index)
    set_worker_share(args.index, args.workers)
    channel = socket.socket(fileno=args.channel_fd)
    coroutine = serve_worker(channel, args.index, args.stats_interval)
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    return int(uvloop.run(coroutine))


if __name__ == "__main__":
    sys.exit(main())
