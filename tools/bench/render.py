"""docs/benchmarks.md from the raw results: one table per benchmark, each row beside the
published gateway-api-bench figures, machine-labelled, ratios to Envoy from the same run."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tools.bench import plots, reference
from tools.bench.throughput import PROTOCOL_LABELS

DATAPLANE_LABELS = {"python": "agw proxy", "envoy": "Envoy"}
DATAPLANE_ORDER = {"python": 0, "envoy": 1}
PROPAGATION_COLUMNS = [
    "data plane", "routes", "trials", "mean ms", "p50 ms", "p99 ms", "max ms",
    "best published mean / max ms (3,000 routes)", "beats it",
]  # fmt: skip
CHURN_COLUMNS = [
    "data plane", "variant", "seconds", "changes", "requests", "non-200", "connection errors",
    "success", "published", "zero failures",
]  # fmt: skip
CONTROL_PLANE_COLUMNS = [
    "data plane", "routes", "start → Programmed s", "start → last route 200 s",
    "CP RSS idle MiB", "CP CPU idle cores", "CP RSS churn max MiB", "CP CPU churn cores",
    "published at 5,000", "beats best",
]  # fmt: skip
PROXY_COLUMNS = [
    "data plane", "routes", "RSS per process", "total MiB", "published", "under 40 MiB",
]  # fmt: skip
THROUGHPUT_COLUMNS = [
    "protocol", "agw req/s", "Envoy req/s", "ratio", "agw p99 ms", "Envoy p99 ms", "ratio",
    "agw CPU µs/req", "Envoy CPU µs/req", "ratio", "agw RSS MiB", "Envoy RSS MiB",
]  # fmt: skip


def machine_label(machine: dict[str, Any]) -> str:
    return (
        f"{machine['cores']} cores, {machine['cpu_model']}, Python {machine['python']}, "
        f"{machine['date']}"
    )


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _label(dataplane: str) -> str:
    return DATAPLANE_LABELS.get(dataplane, dataplane)


def _by_dataplane_then(field: str) -> Callable[[dict[str, Any]], tuple[int, Any]]:
    def key(row: dict[str, Any]) -> tuple[int, Any]:
        return DATAPLANE_ORDER.get(row["dataplane"], len(DATAPLANE_ORDER)), row[field]

    return key


def _verdict(ok: bool) -> str:
    return "yes" if ok else "**no**"


def propagation_section(rows: list[dict[str, Any]]) -> list[str]:
    best = reference.PROPAGATION_MS["agentgateway"]
    published = ", ".join(
        f"{name} {figures['mean_ms']:g} ms mean"
        + (f" / {figures['max_ms']:g} ms max" if "max_ms" in figures else "")
        for name, figures in reference.PROPAGATION_MS.items()
    )
    table = []
    for row in sorted(rows, key=_by_dataplane_then("routes")):
        latency = row["latency"]
        beats = latency["mean_ms"] < best["mean_ms"] and latency["max_ms"] < best["max_ms"]
        at_reference = row["routes"] == reference.PROPAGATION_ROUTES
        table.append(
            [
                _label(row["dataplane"]), f"{row['routes']:,}", str(row["trials"]),
                f"{latency['mean_ms']:.1f}", f"{latency['p50_ms']:.1f}",
                f"{latency['p99_ms']:.1f}", f"{latency['max_ms']:.1f}",
                f"{best['mean_ms']:g} / {best['max_ms']:g}",
                _verdict(beats) if at_reference else "—",
            ]
        )  # fmt: skip
    return [
        "## Route propagation",
        "",
        "N HTTPRoutes attached; a new HTTPRoute is written into the directory `agw run` serves",
        "and the clock runs until the first 200 through the proxy (polled every millisecond on",
        f"fresh connections). Published, at {reference.PROPAGATION_ROUTES:,} routes: {published}.",
        "",
        *_table(PROPAGATION_COLUMNS, table),
        "",
        f"![propagation latency vs routes]({plots.PROPAGATION_PNG})",
        "",
    ]


def _clients(row: dict[str, Any]) -> list[dict[str, Any]]:
    return [row["keepalive"], row["new_connections"], row.get("added_routes") or {}]


def _success_percent(row: dict[str, Any]) -> float:
    requests = sum(int(client.get("requests", 0)) for client in _clients(row))
    ok = sum(int(client.get("ok", 0)) for client in _clients(row))
    return 100.0 * ok / requests if requests else 0.0


def churn_section(rows: list[dict[str, Any]]) -> list[str]:
    table = []
    for row in sorted(rows, key=_by_dataplane_then("variant")):
        clients = _clients(row)
        requests = sum(int(client.get("requests", 0)) for client in clients)
        non_200 = sum(int(client.get("non_200", 0)) for client in clients)
        errors = sum(int(client.get("connection_errors", 0)) for client in clients)
        table.append(
            [
                _label(row["dataplane"]), row["variant"], f"{row['duration_s']:.0f}",
                str(row["changes"]), f"{requests:,}", str(non_200), str(errors),
                f"{_success_percent(row):.3f}%", "100%", _verdict(row["failures"] == 0),
            ]
        )  # fmt: skip
    return [
        "## Churn",
        "",
        "`switch`: the stable route's backend flips between two echo servers every 200 ms.",
        "`routes`: every 200 ms a route is added and, beyond four, the oldest deleted; requests",
        "to an added route count from its first 200 until its deletion. Clients: one keep-alive",
        "connection and one new connection per request to the stable route (plus one cycling",
        "over the added routes). Published: 100% success for agentgateway and Istio.",
        "",
        *_table(CHURN_COLUMNS, table),
        "",
    ]


def _controller_reference(routes: int) -> str:
    if routes != reference.CONTROLLER_ROUTES:
        return "—"
    return "; ".join(
        f"{name} {figures['rss_mib']:,.0f} MiB / {figures['cpu_cores']:g} core"
        for name, figures in reference.CONTROLLER_AT_5000.items()
    )


def _control_plane_row(row: dict[str, Any]) -> list[str]:
    best = reference.CONTROLLER_AT_5000["agentgateway"]
    beats = (
        row["control_plane_rss_mib_idle"] < best["rss_mib"]
        and row["control_plane_cpu_cores_idle"] < best["cpu_cores"]
    )
    at_reference = row["routes"] == reference.CONTROLLER_ROUTES
    return [
        _label(row["dataplane"]), f"{row['routes']:,}", f"{row['programmed_s']:.1f}",
        f"{row['serving_s']:.1f}", f"{row['control_plane_rss_mib_idle']:.0f}",
        f"{row['control_plane_cpu_cores_idle']:.3f}",
        f"{row['control_plane_rss_mib_churn_max']:.0f}",
        f"{row['control_plane_cpu_cores_churn']:.3f}",
        _controller_reference(row["routes"]), _verdict(beats) if at_reference else "—",
    ]  # fmt: skip


def _proxy_row(row: dict[str, Any]) -> list[str]:
    limit = reference.PROXY_RSS_MIB["agentgateway"]
    each = ", ".join(f"{p['role']} {p['rss_mib']:.0f}" for p in row["proxies"])
    return [
        _label(row["dataplane"]), f"{row['routes']:,}", each or "—",
        f"{row['proxy_rss_mib_total']:.0f}", f"agentgateway {limit:g} MiB; Envoy-based ~1 GiB",
        _verdict(row["proxy_rss_mib_total"] < limit),
    ]  # fmt: skip


def scale_section(rows: list[dict[str, Any]]) -> list[str]:
    ordered = sorted(rows, key=_by_dataplane_then("routes"))
    return [
        "## Scale cost",
        "",
        "`agw run` on a directory with N routes; times are from its start. Control-plane CPU is",
        "utime+stime from /proc over an idle window and over a window in which one route's",
        "backend switches every 200 ms; RSS is VmRSS. The control plane is the `agw run`",
        "process (it supervises the proxies, which run as separate processes).",
        "",
        *_table(CONTROL_PLANE_COLUMNS, [_control_plane_row(row) for row in ordered]),
        "",
        "Proxy memory, per process (MiB):",
        "",
        *_table(PROXY_COLUMNS, [_proxy_row(row) for row in ordered]),
        "",
        f"![RSS vs routes]({plots.RSS_PNG})",
        "",
    ]


def _throughput_row(row: dict[str, Any]) -> list[str]:
    agw, envoy, ratios = row["medians"]["agw"], row["medians"]["envoy"], row["ratios"]

    def ratio(field: str) -> str:
        value = ratios.get(field)
        return f"{value:.2f}" if value is not None else "—"

    return [
        PROTOCOL_LABELS.get(row["protocol"], row["protocol"]),
        f"{agw['requests_per_second']:,.0f}",
        f"{envoy['requests_per_second']:,.0f}", ratio("requests_per_second"),
        f"{agw['p99_ms']:.2f}", f"{envoy['p99_ms']:.2f}", ratio("p99_ms"),
        f"{agw['cpu_us_per_request']:.1f}", f"{envoy['cpu_us_per_request']:.1f}",
        ratio("cpu_us_per_request"), f"{agw['rss_mib']:.0f}", f"{envoy['rss_mib']:.0f}",
    ]  # fmt: skip


def throughput_section(rows: list[dict[str, Any]]) -> list[str]:
    complete = [row for row in rows if len(row["medians"]) == 2]
    backends = ", ".join(sorted({str(row.get("backend", "nginx")) for row in rows}))
    return [
        "## Data-plane throughput",
        "",
        "`tools/bench_dataplane.py`: the same xDS config compiled by the agw proxy and given to",
        f"Envoy, one core each, same backend ({backends}), same run; medians over rounds.",
        "Ratios are agw / Envoy from that run.",
        "",
        *_table(THROUGHPUT_COLUMNS, [_throughput_row(row) for row in complete]),
        "",
        f"![requests/s per data plane]({plots.THROUGHPUT_PNG})",
        "",
    ]


SECTIONS = (
    ("propagation", propagation_section),
    ("churn", churn_section),
    ("scale", scale_section),
    ("throughput", throughput_section),
)


def render(results: dict[str, Any]) -> str:
    lines = [
        "# agw benchmarks",
        "",
        "Generated by `make bench` (`python -m tools.bench.report`); re-render without",
        "re-running from `docs/benchmarks.json` with `python -m tools.bench.report --from-json`.",
        "",
        f"**Machine:** {machine_label(results['machine'])}. Absolute figures are from this",
        "machine; every ratio to Envoy is from the same run on it. Published figures come from",
        f"{reference.SOURCE}, measured on other hardware on Kubernetes: context, not a",
        "same-machine comparison.",
        "",
    ]
    if results.get("plan", {}).get("quick"):
        lines += ["> Quick mode: reduced sizes and durations, not the published sizes.", ""]
    for key, section in SECTIONS:
        if results.get(key):
            lines += section(results[key])
    if results.get("errors"):
        lines += ["## Runs that failed", ""] + [f"- {error}" for error in results["errors"]] + [""]
    return "\n".join(lines)
