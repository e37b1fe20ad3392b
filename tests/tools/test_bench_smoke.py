"""Smoke runs of the benchmark suite (tools/bench) so it cannot rot: every benchmark at a tiny
size on the agw proxy (scale with 50 routes, propagation with 3 trials, both churn variants
for 3 s, all on one `agw run`, whose start-up dominates their cost; HTTP/1.1 throughput
against Envoy for 1 s through `run_all`), then the report and plots rendered into a
temporary directory, and re-rendered from the saved JSON by the CLI.

Asserts sanity, not speed: counts above zero, zero failed requests under churn, both backends
seen while switching, costs read from /proc. Leaves out the full sizes, one gateway per
benchmark as `make bench` runs them (only the plan's expansion is checked), the Envoy data
plane through `agw run` (the e2e suite covers it) and HTTP/2 and HTTPS throughput."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tools.bench import plots
from tools.bench.churn import VARIANTS, measure_churn
from tools.bench.gateway import Layout, open_testbed
from tools.bench.latency import LatencySummary
from tools.bench.propagation import measure_propagation
from tools.bench.report import Plan, jobs, run_all, write_report
from tools.bench.scale import measure_scale

ROOT = Path(__file__).resolve().parents[2]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
ROUTES = 50
THROUGHPUT_ONLY = Plan(
    dataplanes=(),
    throughput_protocols=("http1",),
    throughput_seconds=1.0,
    throughput_rounds=1,
    throughput_backend="uvloop",  # no nginx to install on a fresh CI machine
    quick=True,
)

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def results() -> dict[str, Any]:
    found = run_all(THROUGHPUT_ONLY, progress=lambda _: None)
    with open_testbed("python", Layout("127.0.78", "127.0.79"), ROUTES, "smoke") as gateway:
        found["scale"].append(measure_scale(gateway, ROUTES, 1.0, 1.0, 120).as_dict())
        found["propagation"].append(measure_propagation(gateway, ROUTES, 3).as_dict())
        found["churn"] += [row.as_dict() for row in measure_churn(gateway, VARIANTS, 3.0)]
    return found


def test_the_full_plan_runs_every_size_on_both_data_planes() -> None:
    planned = [(section, label) for section, label, _ in jobs(Plan())]
    assert len(planned) == 2 * (2 + 1 + 3) + 3
    assert ("propagation", "envoy 3000 routes") in planned
    assert ("scale", "python 10000 routes") in planned
    assert ("churn", "python switch, routes") in planned
    assert [label for section, label in planned if section == "throughput"] == [
        "http1", "http2", "https",
    ]  # fmt: skip


def test_every_benchmark_ran(results: dict[str, Any]) -> None:
    assert results["errors"] == []
    assert [len(results[key]) for key in ("propagation", "churn", "scale", "throughput")] == [
        1, 2, 1, 1,
    ]  # fmt: skip


def test_propagation_times_every_trial(results: dict[str, Any]) -> None:
    (row,) = results["propagation"]
    assert (row["dataplane"], row["routes"], len(row["samples_ms"])) == ("python", ROUTES, 3)
    assert all(sample > 0 for sample in row["samples_ms"])
    latency = row["latency"]
    assert 0 < latency["p50_ms"] <= latency["max_ms"]
    assert latency["mean_ms"] <= latency["max_ms"]


def test_churn_loses_no_request(results: dict[str, Any]) -> None:
    by_variant = {row["variant"]: row for row in results["churn"]}
    for row in by_variant.values():
        assert row["failures"] == 0, row
        assert row["changes"] >= 10  # one per 200 ms for 3 s
        for client in (row["keepalive"], row["new_connections"]):
            assert client["requests"] == client["ok"] > 0
    switch = by_variant["switch"]
    seen = set(switch["keepalive"]["backends"]) | set(switch["new_connections"]["backends"])
    assert seen == {"a", "b"}, "the backend switch never took effect"
    assert by_variant["routes"]["added_routes"]["ok"] > 0, "no added route was ever served"


def test_scale_reads_costs_from_proc(results: dict[str, Any]) -> None:
    (row,) = results["scale"]
    assert min(row["programmed_s"], row["serving_s"]) > 0
    assert row["control_plane_rss_mib_idle"] > 10
    assert row["control_plane_cpu_cores_churn"] >= 0
    assert row["churn_changes"] >= 4 and row["routes"] == ROUTES
    roles = {process["role"] for process in row["proxies"]}
    assert "agw proxy worker" in roles
    assert all(process["rss_mib"] > 0 for process in row["proxies"])


def test_throughput_compares_both_proxies_in_one_run(results: dict[str, Any]) -> None:
    (row,) = results["throughput"]
    assert row["medians"]["agw"]["requests_per_second"] > 0
    assert row["medians"]["envoy"]["requests_per_second"] > 0
    assert row["ratios"]["requests_per_second"] > 0


def test_report_renders_tables_and_plots(results: dict[str, Any], tmp_path: Path) -> None:
    written = write_report(results, tmp_path)
    names = {path.name for path in written}
    assert names == {"benchmarks.md", plots.PROPAGATION_PNG, plots.RSS_PNG, plots.THROUGHPUT_PNG}
    for name in names - {"benchmarks.md"}:
        assert (tmp_path / name).read_bytes().startswith(PNG_MAGIC)
    report = (tmp_path / "benchmarks.md").read_text()
    for heading in ("Route propagation", "Churn", "Scale cost", "Data-plane throughput"):
        assert f"## {heading}" in report
    assert results["machine"]["cpu_model"] in report
    assert "16.6" in report and "Runs that failed" not in report


def test_report_rerenders_from_json(results: dict[str, Any], tmp_path: Path) -> None:
    saved = tmp_path / "benchmarks.json"
    saved.write_text(json.dumps(results))
    out = tmp_path / "out"
    command = [sys.executable, "-m", "tools.bench.report", "--from-json", str(saved)]
    completed = subprocess.run(
        [*command, "--out-dir", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert completed.returncode == 0, completed.stderr
    assert "## Churn" in (out / "benchmarks.md").read_text()


def test_latency_summary_uses_nearest_rank() -> None:
    summary = LatencySummary.of([float(value) for value in range(100, 0, -1)])
    assert (summary.samples, summary.p50_ms, summary.p99_ms, summary.max_ms) == (
        100, 50.5, 100.0, 100.0,
    )  # fmt: skip
    assert summary.mean_ms == 50.5
    with pytest.raises(ValueError):
        LatencySummary.of([])
