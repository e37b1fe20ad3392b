"""The ``agw proxy`` process: an xDS client on one ADS stream, the worker pool it feeds, and
the admin server; SIGTERM or SIGINT drain the workers and exit.

``--workers 0`` runs the proxy inside this process instead of in workers (one event loop
shared with gRPC: for debugging and tests, not for speed).

The admin server's address is logged once bound (event ``admin listening``) and, with
``--admin-address-path FILE``, written to FILE as ``HOST:PORT`` (as Envoy's flag of that name
does), which is how a supervisor learns the port chosen for ``--admin-address HOST:0``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from dataclasses import dataclass
from pathlib import Path

import structlog

from dataplane.admin import ProxyAdmin
from dataplane.proxy import Proxy
from dataplane.workers.counters import Snapshot, take_snapshot
from dataplane.workers.log import configure_logging
from dataplane.workers.pool import WorkerPool
from dataplane.xdsclient import DeltaWire, SotwWire, XdsClient, build_node
from dataplane.xdsclient.credentials import XdsCredentials
from dataplane.xdsclient.errors import InvalidAddress
from dataplane.xdsclient.sink import ConfigUpdate
from dataplane.xdsclient.transport import AdsConnection

log = structlog.get_logger("agw.proxy")

DEFAULT_ADMIN_ADDRESS = "127.0.0.1:15001"
DEFAULT_DRAIN_SECONDS = 5.0


@dataclass(frozen=True)
class ProxyOptions:
    xds_address: str
    gateway: str
    workers: int = os.cpu_count() or 1
    admin_address: str = DEFAULT_ADMIN_ADDRESS
    delta: bool = True
    node_id: str | None = None
    log_level: str = "info"
    admin_address_path: Path | None = None
    drain_seconds: float = DEFAULT_DRAIN_SECONDS
    stats_interval: float = 1.0
    # TLS to the control plane (its CA bundle) and the token that proves this proxy's identity.
    xds_ca_file: Path | None = None
    xds_token_file: Path | None = None


class InProcessRuntime:
    """Runs updates on a ``Proxy`` in this process (``--workers 0``)."""

    restarts = 0

    def __init__(self) -> None:
        self.proxy: Proxy | None = None
        self._ever_complete = False

    async def start(self) -> None:
        self.proxy = Proxy()

    async def apply(self, update: ConfigUpdate) -> None:
        assert self.proxy is not None
        await self.proxy.apply(update.config)
        self._ever_complete = self._ever_complete or update.is_complete

    @property
    def ready(self) -> bool:
        return self._ever_complete

    def running(self) -> int:
        return 1

    def counters(self) -> Snapshot:
        assert self.proxy is not None
        return take_snapshot(self.proxy.stats)

    def worker_counters(self) -> dict[int, Snapshot]:
        return {0: self.counters()}

    async def stop(self, drain_seconds: float) -> None:
        if self.proxy is not None:
            await self.proxy.close(drain_seconds)


def parse_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` or ``[V6]:PORT``."""
    host, separator, port = text.rpartition(":")
    host = host.strip("[]")
    if not separator or not host or not port.isdigit() or int(port) > 65535:
        raise InvalidAddress(f"{text!r} is not HOST:PORT")
    return host, int(port)


def run(options: ProxyOptions) -> int:
    configure_logging(options.log_level)
    return asyncio.run(serve(options))


async def serve(options: ProxyOptions, stop: asyncio.Event | None = None) -> int:
    """Run until ``stop`` is set (or SIGTERM/SIGINT when not given), then drain."""
    admin_host, admin_port = parse_address(options.admin_address)
    parse_address(options.xds_address)
    credentials = XdsCredentials(options.xds_ca_file, options.xds_token_file)
    if stop is None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
    runtime: WorkerPool | InProcessRuntime
    if options.workers > 0:
        runtime = WorkerPool(
            options.workers, stats_interval=options.stats_interval, log_level=options.log_level
        )
    else:
        runtime = InProcessRuntime()
    await runtime.start()
    wire = DeltaWire() if options.delta else SotwWire()
    # With workers, they compile route configurations; the parent only tracks and forwards.
    client = XdsClient(
        wire, build_node(options.gateway, options.node_id), compile_routes=options.workers == 0
    )
    admin = ProxyAdmin(client, runtime)
    bound = await admin.start(admin_host, admin_port)
    _announce_admin(bound, options.admin_address_path)
    connection = AdsConnection(client, runtime, options.xds_address, credentials=credentials)
    ads = asyncio.create_task(connection.run(), name="ads")
    log.info(
        "proxy started",
        gateway=options.gateway,
        xds=options.xds_address,
        flavour=wire.flavour,
        workers=options.workers,
        tls=credentials.is_secure,
    )
    try:
        await stop.wait()
    finally:
        log.info("proxy draining", seconds=options.drain_seconds)
        ads.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ads
        await runtime.stop(options.drain_seconds)
        await admin.stop()
        log.info("proxy stopped")
    return 0


def _announce_admin(bound: tuple[str, int], path: Path | None) -> None:
    host, port = bound
    text = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    log.info("admin listening", address=text)
    if path is not None:
        # Written whole, then renamed: a reader never sees half an address.
        partial = path.with_name(path.name + ".tmp")
        partial.write_text(text + "\n")
        partial.replace(path)
