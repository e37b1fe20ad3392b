"""Prometheus exposition of the control plane's counters (read at scrape time, never kept
twice)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from controlplane.pipeline import PipelineMetrics
from controlplane.xds.metrics import XdsMetrics
from controlplane.xds.sync_status import SyncStatus


class ControlPlaneCollector(Collector):
    def __init__(self, xds: XdsMetrics, pipeline: PipelineMetrics, sync: SyncStatus) -> None:
        self._xds = xds
        self._pipeline = pipeline
        self._sync = sync

    def collect(self) -> Iterator[Metric]:
        xds, pipeline = self._xds, self._pipeline
        yield CounterMetricFamily(
            "agw_xds_pushes", "xDS responses sent to proxies", value=xds.pushes
        )
        yield CounterMetricFamily(
            "agw_xds_nacks", "xDS requests that rejected a response", value=xds.nacks
        )
        yield CounterMetricFamily("agw_xds_requests", "xDS requests received", value=xds.requests)
        yield GaugeMetricFamily(
            "agw_xds_connected_proxies", "open ADS streams", value=len(self._sync)
        )
        yield CounterMetricFamily(
            "agw_translations", "translation runs", value=pipeline.translations
        )
        yield CounterMetricFamily(
            "agw_translation_failures",
            "translation runs that failed",
            value=pipeline.translation_failures,
        )
        yield CounterMetricFamily(
            "agw_translation_seconds",
            "time spent translating",
            value=pipeline.total_translation_seconds,
        )
        yield GaugeMetricFamily(
            "agw_last_translation_seconds",
            "duration of the last translation",
            value=pipeline.last_translation_seconds,
        )
        yield CounterMetricFamily(
            "agw_snapshots_published",
            "snapshots swapped into the xDS cache",
            value=pipeline.snapshots_published,
        )
        sizes = GaugeMetricFamily(
            "agw_snapshot_resources", "resources in a gateway's snapshot", labels=["gateway"]
        )
        for gateway, size in sorted(pipeline.snapshot_sizes.items()):
            sizes.add_metric([gateway], size)
        yield sizes


def exposition(collector: ControlPlaneCollector) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return generate_latest(registry)
