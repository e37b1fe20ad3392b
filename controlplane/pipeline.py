"""Pipeline: ResourceSet in, per-gateway snapshots out.

Each run translates the whole set (level-triggered: the result never depends on what came
before), reusing through a memo what unchanged routes produced in the run before
(translator.incremental), checks every gateway's resources for consistency and publishes the
ones that changed. A failed translation, or an inconsistent
gateway, keeps the last good snapshot and is reported; nothing else is affected.

Addresses come from an ``AddressPool`` (embedded and file modes: each Gateway binds, and
shows, an address of its own), or with Kubernetes provisioning from ``published``, which
gives each Gateway its Service's addresses for status.addresses; with neither, the options
are used as they are."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import structlog

from controlplane.addresses import AddressPool, AddressPoolExhausted
from controlplane.status import StatusStamper
from controlplane.xds.cache import SnapshotCache
from controlplane.xds.snapshot import Snapshot
from translator.gatewayapi.status import ObjectId
from translator.incremental import TranslationMemo
from translator.options import TranslateOptions
from translator.resources import ResourceSet
from translator.translate import TranslationResult, translate
from translator.xds import XdsResources

log = structlog.get_logger("agw.pipeline")

# "namespace/name" of a Gateway -> the (type, value) addresses its Service was given.
PublishedAddresses = Mapping[str, tuple[tuple[str, str], ...]]


@dataclass
class PipelineMetrics:
    translations: int = 0
    translation_failures: int = 0
    last_translation_seconds: float = 0.0
    total_translation_seconds: float = 0.0
    snapshots_published: int = 0
    # Per gateway: resources in its current snapshot.
    snapshot_sizes: dict[str, int] = field(default_factory=dict)


@dataclass
class Translated:
    """What one run produced, before it is published (built off the event loop)."""

    result: TranslationResult | None
    snapshots: dict[str, Snapshot]
    error: str = ""
    seconds: float = 0.0


class Pipeline:
    def __init__(
        self,
        cache: SnapshotCache,
        options: TranslateOptions,
        pool: AddressPool | None = None,
        clock: Callable[[], float] = time.time,
        published: Callable[[ResourceSet], PublishedAddresses] | None = None,
    ) -> None:
        self.cache = cache
        self.options = options
        self.pool = pool
        self.published = published
        self.metrics = PipelineMetrics()
        self.resources = ResourceSet()
        self.statuses: dict[ObjectId, dict[str, Any]] = {}
        self.addresses: dict[str, str] = {}
        # Problems of the last run: translation errors and inconsistent gateways.
        self.problems: list[str] = []
        self.ready = False
        self._stamper = StatusStamper(clock)
        self.memo = TranslationMemo()

    def prepare(self, resources: ResourceSet) -> TranslateOptions:
        """Assign addresses (cheap, on the event loop) and return the options to translate with."""
        if self.published is not None:
            return self._with_published(resources)
        if self.pool is None:
            return self.options
        requested = [
            (
                f"{gw.metadata.namespace}/{gw.metadata.name}",
                [a.value for a in gw.spec.addresses or () if a.value],
            )
            for gw in resources.gateways
        ]
        try:
            self.addresses = self.pool.assign(requested)
        except AddressPoolExhausted as error:
            log.error("address pool exhausted", error=str(error))
        assigned = {**self.addresses, **self.options.gateway_addresses}
        return replace(self.options, gateway_addresses=assigned)

    def _with_published(self, resources: ResourceSet) -> TranslateOptions:
        assert self.published is not None
        # Provisioned proxies run in pods behind their Service: they bind the wildcard
        # address, never an address the Gateway requests (that one belongs to the Service).
        wildcard = {
            f"{gw.metadata.namespace}/{gw.metadata.name}": self.options.default_address
            for gw in resources.gateways
        }
        return replace(
            self.options,
            gateway_addresses={**wildcard, **self.options.gateway_addresses},
            published_addresses=self.published(resources),
        )

    def translate(self, resources: ResourceSet, options: TranslateOptions) -> Translated:
        """The CPU-heavy half, safe to run in a worker thread (one at a time: the memo is
        not shared between translations)."""
        start = time.perf_counter()
        try:
            result = translate(resources, options, self.memo)
            snapshots = {
                gateway: _snapshot(xds)
                for gateway, xds in result.xds.items()
                if gateway not in result.inconsistencies
            }
        except Exception as error:  # a translator bug must not take the control plane down
            log.exception("translator raised")
            self.memo = TranslationMemo()  # whatever it half-learned is not to be trusted
            return Translated(
                None, {}, f"{type(error).__name__}: {error}", time.perf_counter() - start
            )
        return Translated(result, snapshots, "", time.perf_counter() - start)

    def publish(self, resources: ResourceSet, translated: Translated) -> None:
        """The cheap half, on the event loop: swap snapshots into the cache, then stamp the
        statuses (the control plane lets the ADS streams run in between)."""
        if self.publish_snapshots(resources, translated):
            self.publish_statuses(translated)

    def publish_snapshots(self, resources: ResourceSet, translated: Translated) -> bool:
        """Swap snapshots into the cache; False when the translation failed."""
        self.metrics.translations += 1
        self.metrics.last_translation_seconds = translated.seconds
        self.metrics.total_translation_seconds += translated.seconds
        result = translated.result
        if result is None:
            self.metrics.translation_failures += 1
            self.problems = [
                f"translation failed, keeping the last good configuration: {translated.error}"
            ]
            log.error("translation failed", error=translated.error)
            return False
        self.resources = resources
        self.problems = [
            f"gateway {gateway} is inconsistent, keeping its last good snapshot: {problem}"
            for gateway, problems in result.inconsistencies.items()
            for problem in problems
        ]
        for problem in self.problems:
            log.error("inconsistent snapshot", problem=problem)
        for gateway, snapshot in translated.snapshots.items():
            current = self.cache.get(gateway)
            if current is None or current.version != snapshot.version:
                self.cache.set_snapshot(gateway, snapshot)
                self.metrics.snapshots_published += 1
            self.metrics.snapshot_sizes[gateway] = sum(len(v) for v in snapshot.resources.values())
        for gateway in self.cache.gateways():
            if gateway not in result.xds:
                self.cache.remove(gateway)
                self.metrics.snapshot_sizes.pop(gateway, None)
        self.ready = True
        return True

    def publish_statuses(self, translated: Translated) -> None:
        """Stamp the statuses of a translation whose snapshots were published."""
        result = translated.result
        assert result is not None, "a failed translation has no statuses"
        self.statuses = self._stamper.stamp(result.statuses)
        log.info(
            "translated",
            gateways=len(result.xds),
            seconds=round(translated.seconds, 4),
            problems=len(self.problems),
        )

    def run_once(self, resources: ResourceSet) -> None:
        self.publish(resources, self.translate(resources, self.prepare(resources)))


def _snapshot(xds: XdsResources) -> Snapshot:
    return Snapshot.from_resources(xds.by_type_url())
