"""The control plane process: a source, the pipeline, the ADS server and the admin server.

The source is a directory of YAML (``source="file"``) or a Kubernetes cluster
(``source="kubernetes"``); both feed the same pipeline, ADS server and admin endpoints. With
Kubernetes, statuses go back to the objects' status subresources, written by the replica
that holds the Lease (every replica serves xDS). With provisioning settings, the Lease holder
also provisions each Gateway's proxies, Gateways publish their Service's addresses, and xDS
is served over TLS to authenticated proxies when the settings name a CA
(``controlplane.provisioning``)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import grpc
import structlog

from controlplane.addresses import AddressPool
from controlplane.admin import AdminServer, Endpoint, Response
from controlplane.deployer import Provisioner, ProvisionSettings
from controlplane.leader import LeaderElector, LeaseConfig
from controlplane.metrics import ControlPlaneCollector, exposition
from controlplane.pipeline import Pipeline
from controlplane.provisioning import (
    DEFAULT_RESYNC_SECONDS,
    ProvisioningLoop,
    XdsServing,
    xds_serving,
)
from controlplane.sources.kube import KubeApi, KubernetesSource, SourceSettings
from controlplane.sources.polled import PolledDirectory
from controlplane.statuswriter import StatusWriter
from controlplane.xds.cache import SnapshotCache
from controlplane.xds.metrics import XdsMetrics
from controlplane.xds.server import serve
from controlplane.xds.sync_status import SyncStatus
from translator.gatewayapi.status import ObjectId
from translator.model import Resource, Secret, Service
from translator.options import DEFAULT_CONTROLLER_NAME, DataPlane, TranslateOptions
from translator.resources import ResourceSet
from translator.xds import XdsResources, type_urls
from translator.xds.dump import config_dump

log = structlog.get_logger("agw.controlplane")
REDACTED = "[redacted]"


class Source(Protocol):
    """Where objects come from. ``changed`` returns once the view has changed since the last
    ``resource_set()``; several changes meanwhile are one (the pipeline wants the latest)."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def changed(self) -> None: ...

    def resource_set(self) -> ResourceSet: ...

    def problems(self) -> list[str]: ...


@dataclass(frozen=True)
class ControlPlaneConfig:
    config_dir: Path | None = None
    xds_address: str = "127.0.0.1:15010"
    admin_address: str = "127.0.0.1:15000"
    controller_name: str = DEFAULT_CONTROLLER_NAME
    # What serves the Gateways: the translator emits agw's own filters only for the agw proxy.
    data_plane: DataPlane = DataPlane.AGW
    address_pool: str | None = "127.0.10.0/24"
    # How often the directory is checked for changes, at most (large directories less often).
    poll_interval: float = 0.02
    source: str = "file"
    # Kubernetes: the kubeconfig to use; None means the pod's in-cluster configuration.
    kubeconfig: Path | None = None
    kubernetes: SourceSettings = field(default_factory=SourceSettings)
    lease: LeaseConfig = field(default_factory=LeaseConfig)
    # Without election this replica always writes statuses (a single replica).
    leader_election: bool = True
    # Kubernetes only: provision proxies (and secure xDS when these name a CA Secret).
    provisioning: ProvisionSettings | None = None
    # The control plane's own namespace, where the xDS CA Secret lives; "": the Lease's.
    namespace: str = ""
    # How often provisioned objects are compared with the cluster when nothing changed.
    provisioning_resync: float = DEFAULT_RESYNC_SECONDS


class ControlPlane:
    def __init__(
        self,
        config: ControlPlaneConfig,
        clock: Callable[[], float] = time.time,
        source: Source | None = None,
    ) -> None:
        if config.provisioning is not None and config.source != "kubernetes":
            raise ValueError("provisioning needs the Kubernetes source")
        self.config = config
        self.source: Source | None = source
        if source is None and config.source == "file":
            if config.config_dir is None:
                raise ValueError("the file source needs config_dir")
            self.source = PolledDirectory(config.config_dir, config.poll_interval, clock)
        self.cache = SnapshotCache()
        self.sync = SyncStatus()
        self.xds_metrics = XdsMetrics()
        pool = AddressPool(config.address_pool) if config.address_pool else None
        options = TranslateOptions(config.controller_name, data_plane=config.data_plane)
        self.pipeline = Pipeline(self.cache, options, pool, clock)
        self.admin = AdminServer(self._endpoints())
        self.admin_bound: tuple[str, int] | None = None
        self.xds_port = 0
        # Kubernetes only: the API client, the Lease election and the status writer.
        self.kube: KubeApi | None = None
        self.leader: LeaderElector | None = None
        self.status_writer: StatusWriter | None = None
        self.provisioning: ProvisioningLoop | None = None
        self.leading = asyncio.Event()
        # Set when something other than the source wants a new translation (an address).
        self._retranslate = asyncio.Event()
        self._grpc: grpc.aio.Server | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._stopped = False
        # Awaited after every publish, e.g. to start and stop embedded proxies.
        self.on_publish: list[Callable[[], Awaitable[None]]] = []

    async def start(self) -> None:
        """Load the source (a refused Kubernetes permission raises ``PermissionDenied`` here),
        then serve ADS and admin and follow the source."""
        if self.source is None:
            await self._connect_kubernetes()
        try:
            await self._start_serving()
        except BaseException:
            await self.stop()
            raise
        log.info("control plane started", xds=self.config.xds_address, admin=self.admin_bound)

    async def _start_serving(self) -> None:
        assert self.source is not None
        await self.source.start()
        serving = await self._start_provisioning()
        self._grpc = await serve(
            self.cache,
            self.config.xds_address,
            status=self.sync,
            metrics=self.xds_metrics,
            credentials=serving.credentials if serving else None,
            authenticator=serving.authenticator if serving else None,
        )
        await self._translate()
        host, _, port = self.config.admin_address.rpartition(":")
        self.admin_bound = await self.admin.start(host.strip("[]"), int(port))
        self._spawn(self._follow(), "source-follow")
        if self.provisioning is not None:
            self._spawn(self.provisioning.run(), "provisioning")
        self._start_status_writing()

    async def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if self.leader is not None:
            await self.leader.stop()
        if self.source is not None:
            await self.source.stop()
        await self._close_kubernetes()
        await self.admin.stop()
        if self._grpc is not None:
            await self._grpc.stop(grace=1.0)

    async def _connect_kubernetes(self) -> None:
        self.kube = await KubeApi.connect(self.config.kubeconfig)
        source = KubernetesSource(self.kube, self.config.kubernetes)
        self.source = source
        self.status_writer = StatusWriter(self.kube, source, self.config.controller_name)
        source.on_status_change.append(self.status_writer.poke)
        if self.config.leader_election:
            self.leader = LeaderElector(self.kube, self.config.lease)
            self.leading = self.leader.leading
        else:
            self.leading.set()

    async def _start_provisioning(self) -> XdsServing | None:
        settings = self.config.provisioning
        source = self.source
        if settings is None or self.kube is None or not isinstance(source, KubernetesSource):
            return None
        namespace = self.config.namespace or self.config.lease.namespace
        settings = replace(settings, controller_name=self.config.controller_name)
        serving = await xds_serving(self.kube.client, namespace, settings)

        def live_service(namespace: str, name: str) -> Service | None:
            found = source.live(ObjectId("", "Service", namespace, name))
            return found if isinstance(found, Service) else None

        loop = ProvisioningLoop(
            Provisioner(self.kube.client, serving.settings, lambda: self.leading.is_set()),
            source.resource_set,
            live_service,
            resync=self.config.provisioning_resync,
        )
        loop.on_addresses_change.append(self._retranslate.set)
        source.on_status_change.append(loop.check_addresses)
        self.pipeline.published = loop.published_addresses
        if self.leader is not None:

            async def on_leadership(leading: bool) -> None:
                if leading:
                    loop.request()

            self.leader.on_change.append(on_leadership)
        self.provisioning = loop
        return serving

    async def _close_kubernetes(self) -> None:
        if self.kube is not None:
            with contextlib.suppress(Exception):
                await self.kube.close()

    def _start_status_writing(self) -> None:
        writer = self.status_writer
        if writer is None:
            return
        if self.leader is not None:

            async def on_leadership(leading: bool) -> None:
                if leading:
                    writer.poke()

            self.leader.on_change.append(on_leadership)
            self.leader.start()
        self._spawn(writer.run(self.leading), "status-writer")

    def _spawn(self, work: Awaitable[None], name: str) -> None:
        self._tasks.append(asyncio.ensure_future(work))
        self._tasks[-1].set_name(name)

    async def _follow(self) -> None:
        """Translate the newest state after every change (bursts coalesce in the source)."""
        while True:
            await self._next_change()
            await self._translate()

    async def _next_change(self) -> None:
        assert self.source is not None
        if self.provisioning is None:
            # Alone, so that a polled directory's scan is never cancelled halfway.
            await self.source.changed()
            return
        waits = [
            asyncio.ensure_future(self.source.changed()),
            asyncio.ensure_future(self._retranslate.wait()),
        ]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()
        self._retranslate.clear()

    async def _translate(self) -> None:
        assert self.source is not None
        resources = self.source.resource_set()
        options = self.pipeline.prepare(resources)
        translated = await asyncio.get_running_loop().run_in_executor(
            None, self.pipeline.translate, resources, options
        )
        if self.pipeline.publish_snapshots(resources, translated):
            # The ADS streams take the new snapshots before thousands of statuses are stamped.
            await asyncio.sleep(0)
            self.pipeline.publish_statuses(translated)
        for problem in self.source.problems():
            log.warning("configuration problem", problem=problem)
        if self.status_writer is not None and translated.result is not None:
            self.status_writer.offer(self.pipeline.statuses, resources)
        if self.provisioning is not None and translated.result is not None:
            self.provisioning.translated(resources, translated.result.statuses)
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
        problems = (self.source.problems() if self.source else []) + self.pipeline.problems
        if self.provisioning is not None:
            problems += self.provisioning.problems
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
