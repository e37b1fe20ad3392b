"""PNG plots for the report: propagation latency vs routes, RSS vs routes, requests/s per
data plane. Each takes the raw results (as stored in benchmarks.json) and returns the file
it wrote, or None when the results hold nothing to plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: never look for a display

import matplotlib.pyplot as plt
from matplotlib.ticker import ScalarFormatter

from tools.bench import reference
from tools.bench.throughput import PROTOCOL_LABELS

LABELS = {"python": "agw proxy", "envoy": "Envoy", "agw": "agw proxy"}
COLOURS = {"python": "tab:blue", "envoy": "tab:red", "agw": "tab:blue"}
PROPAGATION_PNG = "benchmarks-propagation.png"
RSS_PNG = "benchmarks-rss.png"
THROUGHPUT_PNG = "benchmarks-throughput.png"


def _save(figure: Any, path: Path) -> Path:
    figure.tight_layout()
    figure.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(figure)
    return path


def _by_dataplane(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for row in sorted(rows, key=lambda row: int(row["routes"])):
        grouped.setdefault(str(row["dataplane"]), []).append(row)
    return grouped


def plot_propagation(results: dict[str, Any], out_dir: Path, machine: str) -> Path | None:
    rows = results.get("propagation") or []
    if not rows:
        return None
    figure, axes = plt.subplots(figsize=(7, 4.2))
    for dataplane, series in _by_dataplane(rows).items():
        routes = [row["routes"] for row in series]
        label, colour = LABELS.get(dataplane, dataplane), COLOURS.get(dataplane)
        means = [row["latency"]["mean_ms"] for row in series]
        maxima = [row["latency"]["max_ms"] for row in series]
        axes.plot(routes, means, "o-", color=colour, label=f"{label} mean")
        axes.plot(routes, maxima, "x--", color=colour, label=f"{label} max")
    for name, figures in reference.PROPAGATION_MS.items():
        published = [figures["mean_ms"], *([figures["max_ms"]] if "max_ms" in figures else [])]
        which = "mean, max" if len(published) > 1 else "mean"
        axes.scatter(
            [reference.PROPAGATION_ROUTES] * len(published), published, marker="s",
            label=f"{name} (published {which})",
        )  # fmt: skip
    axes.set_yscale("log")
    axes.yaxis.set_major_formatter(ScalarFormatter())
    axes.set_xlabel("HTTPRoutes attached")
    axes.set_ylabel("new route to first 200 (ms, log)")
    axes.set_title(f"Route propagation\n{machine}", fontsize=9)
    axes.legend(fontsize=7)
    return _save(figure, out_dir / PROPAGATION_PNG)


def plot_rss(results: dict[str, Any], out_dir: Path, machine: str) -> Path | None:
    rows = results.get("scale") or []
    if not rows:
        return None
    figure, axes = plt.subplots(figsize=(7, 4.2))
    for dataplane, series in _by_dataplane(rows).items():
        routes = [row["routes"] for row in series]
        label, colour = LABELS.get(dataplane, dataplane), COLOURS.get(dataplane)
        control_plane = [row["control_plane_rss_mib_idle"] for row in series]
        proxies = [row["proxy_rss_mib_total"] for row in series]
        axes.plot(routes, control_plane, "o-", color=colour, label=f"control plane ({label} run)")
        axes.plot(routes, proxies, "s--", color=colour, label=f"{label}, all its processes")
    controller = reference.CONTROLLER_AT_5000["agentgateway"]["rss_mib"]
    axes.scatter(
        [reference.CONTROLLER_ROUTES], [controller], marker="^", color="black",
        label="agentgateway controller (published)",
    )  # fmt: skip
    axes.axhline(
        reference.PROXY_RSS_MIB["agentgateway"], linestyle=":", color="grey",
        label="agentgateway proxy (published)",
    )  # fmt: skip
    axes.set_xlabel("HTTPRoutes attached")
    axes.set_ylabel("RSS (MiB)")
    axes.set_title(f"Memory vs routes\n{machine}", fontsize=9)
    axes.legend(fontsize=7)
    return _save(figure, out_dir / RSS_PNG)


def plot_throughput(results: dict[str, Any], out_dir: Path, machine: str) -> Path | None:
    rows = [row for row in results.get("throughput") or [] if len(row["medians"]) == 2]
    if not rows:
        return None
    figure, axes = plt.subplots(figsize=(7, 4.2))
    positions = range(len(rows))
    width = 0.38
    for offset, kind in ((-width / 2, "agw"), (width / 2, "envoy")):
        values = [row["medians"][kind]["requests_per_second"] for row in rows]
        axes.bar(
            [p + offset for p in positions], values, width, label=LABELS[kind], color=COLOURS[kind]
        )
    axes.set_xticks(
        list(positions), [PROTOCOL_LABELS.get(row["protocol"], row["protocol"]) for row in rows]
    )
    axes.set_ylabel("requests/s (one core each)")
    axes.set_title(f"Data-plane throughput, same config and run\n{machine}", fontsize=9)
    axes.legend(fontsize=8)
    return _save(figure, out_dir / THROUGHPUT_PNG)


def plot_all(results: dict[str, Any], out_dir: Path, machine: str) -> list[Path]:
    made = [
        plot(results, out_dir, machine) for plot in (plot_propagation, plot_rss, plot_throughput)
    ]
    return [path for path in made if path is not None]
