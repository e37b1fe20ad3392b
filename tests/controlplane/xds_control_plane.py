"""An in-process ADS server on loopback for tests, with the state tests wait on."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import grpc

from controlplane.xds.cache import SnapshotCache
from controlplane.xds.metrics import XdsMetrics
from controlplane.xds.server import serve
from controlplane.xds.snapshot import Snapshot
from controlplane.xds.sync_status import ProxySync, SyncStatus
from tests.envoy_harness import free_port, wait_for

GATEWAY = "default/gw"
XDS_HOST = "127.0.21.1"


@dataclass
class ControlPlane:
    address: str
    cache: SnapshotCache = field(default_factory=SnapshotCache)
    status: SyncStatus = field(default_factory=SyncStatus)
    metrics: XdsMetrics = field(default_factory=XdsMetrics)
    server: grpc.aio.Server | None = None

    async def start(self) -> None:
        self.server = await serve(
            self.cache, self.address, status=self.status, metrics=self.metrics
        )

    async def stop(self, grace: float | None = None) -> None:
        if self.server is not None:
            await self.server.stop(grace)
            self.server = None

    def publish(self, snapshot: Snapshot, gateway: str = GATEWAY) -> None:
        self.cache.set_snapshot(gateway, snapshot)

    def proxies(self, gateway: str = GATEWAY) -> list[ProxySync]:
        return self.status.for_gateway(gateway)

    def is_synced(self, version: str, gateway: str = GATEWAY) -> bool:
        proxies = self.proxies(gateway)
        return bool(proxies) and all(p.stream.synced_snapshot == version for p in proxies)

    async def wait_synced(self, version: str, timeout: float = 10.0) -> None:
        await wait_for(
            lambda: self.is_synced(version), timeout=timeout, message=f"proxies synced to {version}"
        )


@contextlib.asynccontextmanager
async def running_control_plane(host: str = XDS_HOST) -> AsyncIterator[ControlPlane]:
    plane = ControlPlane(f"{host}:{free_port(host)}")
    await plane.start()
    try:
        yield plane
    finally:
        await plane.stop()
