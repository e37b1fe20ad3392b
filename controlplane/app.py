"""The control plane process: a source, the pipeline, the ADS server and the admin server."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import structlog

from controlplane.addresses import AddressPool
from controlplane.admin import AdminServer, Endpoint, Response
from controlplane.metrics import ControlPlaneCollector, exposition
from controlplane.pipeline import Pipeline
from controlplane.sources.file import FileSource
from controlplane.xds.cache import SnapshotCache
from controlplane.xds.metrics import XdsMetrics
from controlplane.xds.server import serve
from controlplane.xds.sync_status import SyncStatus
from translator.gatewayapi.status import ObjectId
from translator.model import Resource, Secret
from translator.options import DEFAULT_CONTROLLER_NAME, TranslateOptions
from translator.xds import XdsResources, type_urls
from translator.xds.dump import config_dump

log = structlog.get_logger("agw.controlplane")
REDACTED = "[redacted]"


@dataclass(frozen=True)
class ControlPlaneConfig:
    config_dir: Path
    xds_address: str = "127.0.0.1:15010"
    admin_address: str = "127.0.0.1:15000"
    controller_name: str = DEFAULT_CONTROLLER_NAME
    address_pool: str | None = "127.0.10.0/24"
    # How often the directory is checked for changes.
    poll_interval: float = 0.1


class ControlPlane:
    def __init__(self, config: ControlPlaneConfig, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.source = FileSource(config.config_dir, clock=clock)
        self.cache = SnapshotCache()
        self.sync = SyncStatus()
        self.xds_metrics = XdsMetrics()
        pool = AddressPool(config.address_pool) if config.address_pool else None
        self.pipeline = Pipeline(self.cache, TranslateOptions(config.controller_name), pool, clock)
        self.admin = AdminServer(self._endpoints())
        self.admin_bound: tuple[str, int] | None = None
        self.xds_port = 0
        self._grpc: grpc.aio.Server | None = None
        self._watcher: asyncio.Task[None] | None = None
        # Awaited after every publish, e.g. to start and stop embedded proxies.
        self.on_publish: list[Callable[[], Awaitable[None]]] = []

    async def start(self) -> None:
        self._grpc = await serve(
            self.cache, self.config.xds_address, status=self.sync, metrics=self.xds_metrics
        )
        await self._refresh()
        host, _, port = self.config.admin_address.rpartition(":")
        self.admin_bound = await self.admin.start(host.strip("[]"), int(port))
        self._watcher = asyncio.create_task(self._watch(), name="file-source-watch")
        log.info("control plane started", xds=self.config.xds_address, admin=self.admin_bound)

    async def stop(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            await asyncio.gather(self._watcher, return_exceptions=True)
        await self.admin.stop()
        if self._grpc is not None:
            await self._grpc.stop(grace=1.0)

    async def _watch(self) -> None:
        """Poll the directory; translate the newest state after any change (bursts coalesce:
        a change that lands during a translation is picked up by the next scan)."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.config.poll_interval)
            changed = await loop.run_in_executor(None, self.source.scan)
            if changed:
                await self._translate()

    async def _refresh(self) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self.source.scan)
        await self._translate()

    async def _translate(self) -> None:
        resources = self.source.resource_set()
        options = self.pipeline.prepare(resources)
        translated = await asyncio.get_running_loop().run_in_executor(
            None, Pipeline.translate, resources, options
        )
        self.pipeline.publish(resources, translated)
        for problem in self.source.problems():
            log.warning("configuration problem", problem=problem)
        for hook in self.on_publish:
            await hook()

    # --- admin endpoints -------------------------------------------------------------------

    def _endpoints(self) -> list[Endpoint]:
        return [
            Endpoint(
                "/debug/resources", "every object with its computed status; ?kind=", self._resources
            ),
            Endpoint(
                "/debug/config_dump",
                "?gateway=NS/NAME: the gateway's xDS as envoy.admin.v3.ConfigDump",
                self._config_dump,
            ),
            Endpoint(
                "/debug/syncz",
                "per connected proxy and type: versions and nonces sent and ACKed, last NACK",
                self._syncz,
            ),
            Endpoint("/healthz", "the process is alive", lambda _: Response.text("ok\n")),
            Endpoint("/readyz", "the first translation has been published", self._readyz),
            Endpoint("/metrics", "Prometheus metrics", self._metrics),
        ]

    def _resources(self, query: Mapping[str, str]) -> Response:
        kind = query.get("kind")
        statuses = self.pipeline.statuses
        objects = [
            _object_view(obj, statuses)
            for obj in self.pipeline.resources.objects()
            if kind is None or kind == obj.KIND
        ]
        problems = self.source.problems() + self.pipeline.problems
        return Response.json(
            {"objects": objects, "problems": problems, "addresses": self.pipeline.addresses}
        )

    def _config_dump(self, query: Mapping[str, str]) -> Response:
        gateway = query.get("gateway")
        if not gateway:
            return Response.json(
                {"error": "?gateway=NAMESPACE/NAME is required", "gateways": self.cache.gateways()},
                400,
            )
        snapshot = self.cache.get(gateway)
        if snapshot is None:
            return Response.json(
                {"error": f"no snapshot for gateway {gateway}", "gateways": self.cache.gateways()},
                404,
            )
        by_type = snapshot.resources
        resources = XdsResources(
            listeners=by_type.get(type_urls.LISTENER, {}),
            route_configs=by_type.get(type_urls.ROUTE_CONFIGURATION, {}),
            clusters=by_type.get(type_urls.CLUSTER, {}),
            endpoints=by_type.get(type_urls.CLUSTER_LOAD_ASSIGNMENT, {}),
            secrets=by_type.get(type_urls.SECRET, {}),
        )
        return Response.json(config_dump(resources, snapshot.version))

    def _syncz(self, _: Mapping[str, str]) -> Response:
        return Response(200, self.sync.to_json().encode())

    def _readyz(self, _: Mapping[str, str]) -> Response:
        if self.pipeline.ready:
            return Response.text("ready\n")
        return Response.text("not ready: no translation published yet\n", 503)

    def _metrics(self, _: Mapping[str, str]) -> Response:
        collector = ControlPlaneCollector(self.xds_metrics, self.pipeline.metrics, self.sync)
        return Response(200, exposition(collector), "text/plain; version=0.0.4; charset=utf-8")


def _object_view(obj: Resource, statuses: Mapping[ObjectId, dict[str, Any]]) -> dict[str, Any]:
    data: dict[str, Any] = obj.model_dump(
        by_alias=True, exclude_none=True, mode="json", exclude={"status"}
    )
    if isinstance(obj, Secret):
        for key in ("data", "stringData"):
            if key in data:
                data[key] = {name: REDACTED for name in data[key]}
    meta = obj.metadata
    status = statuses.get(ObjectId(obj.GROUP, obj.KIND, meta.namespace, meta.name))
    if status is not None:
        data["status"] = status
    return data
