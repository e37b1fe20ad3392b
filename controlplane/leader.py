"""Leader election on a coordination.k8s.io/v1 Lease, as client-go's leaderelection does it.

Every replica serves xDS; the leader alone writes statuses (and provisions proxies). Each
replica tries every ``retry_period``:

- no Lease: create it, holding it;
- held by us: renew ``renewTime``; if renewing keeps failing for ``renew_deadline``, step
  down (another replica may take over once the lease expires);
- held by another: take it over when it was released (no holder) or when it has not changed
  for ``lease_duration`` by our own clock (never by comparing clocks across machines).

Every write carries the resourceVersion it was computed from, so two replicas racing for an
expired lease cannot both win (the loser gets 409). ``stop()`` releases a held lease (empty
holder) so another replica takes over within one ``retry_period`` instead of waiting out the
lease. ``leading`` is set while this replica leads; ``on_change`` callbacks hear about each
transition (the proxy deployer can use either).
"""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog

from controlplane.sources.kube.api import ApiResource, KubeApi
from controlplane.sources.kube.errors import KubeApiError, ObjectConflict, ObjectNotFound

log = structlog.get_logger("agw.leader")

LEASES = ApiResource("coordination.k8s.io", "v1", "leases", "Lease", namespaced=True)


def default_identity() -> str:
    return f"{socket.gethostname()}_{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class LeaseConfig:
    namespace: str = "agw-system"
    name: str = "agw-controlplane"
    identity: str = field(default_factory=default_identity)
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0


def micro_time(seconds: float) -> str:
    """Kubernetes MicroTime: RFC 3339 with microseconds."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaderElector:
    def __init__(
        self,
        api: KubeApi,
        config: LeaseConfig,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.api = api
        self.config = config
        self.leading = asyncio.Event()
        # Awaited with True when this replica starts leading, False when it stops.
        self.on_change: list[Callable[[bool], Awaitable[None]]] = []
        self._clock = clock
        self._wall_clock = wall_clock
        self._sleep = sleep
        self._observed_version = ""
        self._observed_at = 0.0
        self._last_renewal = 0.0
        self._task: asyncio.Task[None] | None = None

    @property
    def is_leader(self) -> bool:
        return self.leading.is_set()

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="leader-election")

    async def stop(self, release: bool = True) -> None:
        """Stop trying; release the lease if held, so that another replica takes over now
        (``release=False`` leaves it to expire, as a crashed replica would)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self.is_leader:
            if release:
                await self._release()
            await self._set_leading(False)

    async def run(self) -> None:
        while True:
            try:
                await self._try_once()
            except KubeApiError as error:
                log.warning("lease update failed", error=str(error), lease=self.config.name)
            if self.is_leader and self._clock() - self._last_renewal > self.config.renew_deadline:
                log.warning("could not renew the lease in time; stepping down")
                await self._set_leading(False)
            await self._sleep(self.config.retry_period)

    async def _try_once(self) -> None:
        lease = await self._get()
        now = self._clock()
        if lease is None:
            await self._write(None, transitions=0)
            return
        spec = lease.get("spec") or {}
        version = str(lease["metadata"]["resourceVersion"])
        if version != self._observed_version:
            self._observed_version, self._observed_at = version, now
        holder = spec.get("holderIdentity") or ""
        transitions = int(spec.get("leaseTransitions") or 0)
        if holder == self.config.identity:
            await self._write(lease, transitions)
            return
        duration = float(spec.get("leaseDurationSeconds") or self.config.lease_duration)
        if holder and now < self._observed_at + duration:
            await self._set_leading(False)
            return
        await self._write(lease, transitions + 1)

    async def _get(self) -> dict[str, Any] | None:
        path = LEASES.path(self.config.namespace, self.config.name)
        try:
            return await self.api.get(path, "get", LEASES.name)
        except ObjectNotFound:
            return None

    async def _write(self, lease: dict[str, Any] | None, transitions: int) -> None:
        """Create, renew or take over the lease; on success we lead."""
        now = micro_time(self._wall_clock())
        spec = dict((lease or {}).get("spec") or {})
        if spec.get("holderIdentity") != self.config.identity:
            spec["acquireTime"] = now
        spec.update(
            holderIdentity=self.config.identity,
            leaseDurationSeconds=max(1, round(self.config.lease_duration)),
            renewTime=now,
            leaseTransitions=transitions,
        )
        body: dict[str, Any] = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": self.config.name, "namespace": self.config.namespace},
            "spec": spec,
        }
        try:
            if lease is None:
                written = await self.api.create(LEASES, self.config.namespace, body)
            else:
                body["metadata"]["resourceVersion"] = lease["metadata"]["resourceVersion"]
                written = await self.api.replace(
                    LEASES, self.config.namespace, self.config.name, body
                )
        except ObjectConflict:
            return  # another replica wrote first; look again next round
        self._observed_version = str(written["metadata"]["resourceVersion"])
        self._observed_at = self._last_renewal = self._clock()
        await self._set_leading(True)

    async def _release(self) -> None:
        lease = await self._get_quietly()
        spec = (lease or {}).get("spec") or {}
        if lease is None or spec.get("holderIdentity") != self.config.identity:
            return
        now = micro_time(self._wall_clock())
        lease["spec"] = {**spec, "holderIdentity": "", "leaseDurationSeconds": 1, "renewTime": now}
        try:
            await self.api.replace(LEASES, self.config.namespace, self.config.name, lease)
        except KubeApiError as error:
            log.warning("could not release the lease", error=str(error))

    async def _get_quietly(self) -> dict[str, Any] | None:
        try:
            return await self._get()
        except KubeApiError:
            return None

    async def _set_leading(self, leading: bool) -> None:
        if leading == self.is_leader:
            return
        if leading:
            self.leading.set()
            log.info("leading", identity=self.config.identity)
        else:
            self.leading.clear()
            log.info("not leading", identity=self.config.identity)
        for callback in self.on_change:
            await callback(leading)
