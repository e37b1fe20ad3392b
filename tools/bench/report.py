"""`make bench`: run every benchmark, save the raw results, render the report and plots.

    .venv/bin/python -m tools.bench.report              # full size (tens of minutes)
    .venv/bin/python -m tools.bench.report --quick      # reduced sizes (a few minutes)
    .venv/bin/python -m tools.bench.report --from-json  # re-render docs/benchmarks.json

Writes docs/benchmarks.json (raw results, machine, plan), docs/benchmarks.md and the PNG
plots beside it. A benchmark that fails is recorded under "errors" and the others still run,
so one broken size never costs the rest of a long run."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from tools.bench import machine, plots, render
from tools.bench.churn import VARIANTS, run_churn
from tools.bench.gateway import Layout, exit_on_sigterm
from tools.bench.propagation import run_propagation
from tools.bench.scale import run_scale
from tools.bench.throughput import PROTOCOLS, run_throughput

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
RESULTS_JSON = "benchmarks.json"
REPORT_MD = "benchmarks.md"


@dataclass(frozen=True)
class Plan:
    """Sizes and durations; the defaults are the full-size run `make bench` does."""

    dataplanes: tuple[str, ...] = ("python", "envoy")
    propagation_routes: tuple[int, ...] = (1000, 3000)
    propagation_trials: int = 50
    churn_seconds: float = 60.0
    churn_variants: tuple[str, ...] = VARIANTS
    scale_routes: tuple[int, ...] = (1000, 5000, 10000)
    scale_idle_seconds: float = 10.0
    scale_churn_seconds: float = 10.0
    throughput_protocols: tuple[str, ...] = PROTOCOLS
    throughput_seconds: float = 10.0
    throughput_rounds: int = 2
    throughput_backend: str = "nginx"
    quick: bool = False
    layout: Layout | None = None  # None: each benchmark's own loopback addresses


QUICK = Plan(
    propagation_routes=(100, 300), propagation_trials=10, churn_seconds=5.0,
    scale_routes=(100, 500), scale_idle_seconds=2.0, scale_churn_seconds=2.0,
    throughput_seconds=2.0, throughput_rounds=1, quick=True,
)  # fmt: skip


def jobs(plan: Plan) -> list[tuple[str, str, Callable[[], Any]]]:
    """(section, label, run) for every measurement the plan asks for, in run order."""
    layout = plan.layout
    jobs: list[tuple[str, str, Callable[[], Any]]] = []
    run: Callable[[], Any]
    for dataplane in plan.dataplanes:
        for routes in plan.propagation_routes:
            run = partial(
                run_propagation, routes, plan.propagation_trials, dataplane, layout=layout
            )
            jobs.append(("propagation", f"{dataplane} {routes} routes", run))
        run = partial(run_churn, dataplane, plan.churn_variants, plan.churn_seconds, layout=layout)
        jobs.append(("churn", f"{dataplane} {', '.join(plan.churn_variants)}", run))
        for routes in plan.scale_routes:
            run = partial(
                run_scale, routes, dataplane, idle_window=plan.scale_idle_seconds,
                churn_window=plan.scale_churn_seconds, layout=layout,
            )  # fmt: skip
            jobs.append(("scale", f"{dataplane} {routes} routes", run))
    for protocol in plan.throughput_protocols:
        run = partial(
            run_throughput, protocol, plan.throughput_seconds, plan.throughput_rounds,
            backend=plan.throughput_backend,
        )  # fmt: skip
        jobs.append(("throughput", protocol, run))
    return jobs


def run_all(plan: Plan, progress: Callable[[str], None] = print) -> dict[str, Any]:
    results: dict[str, Any] = {
        "machine": machine.describe(),
        "plan": dataclasses.asdict(plan),
        "propagation": [],
        "churn": [],
        "scale": [],
        "throughput": [],
        "errors": [],
    }
    for section, label, job in jobs(plan):
        progress(f"{section}: {label} ...")
        try:
            produced = job()
            rows = produced if isinstance(produced, list) else [produced]
            results[section].extend(row.as_dict() for row in rows)
        except Exception as error:  # one failed size must not lose the rest of a long run
            results["errors"].append(f"{section} {label}: {type(error).__name__}: {error}")
            progress(traceback.format_exc())
    return results


def write_report(results: dict[str, Any], out_dir: Path) -> list[Path]:
    """benchmarks.md and the plots into ``out_dir``; returns every file written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    label = render.machine_label(results["machine"])
    written = plots.plot_all(results, out_dir, label)
    report = out_dir / REPORT_MD
    report.write_text(render.render(results))
    return [report, *written]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="reduced sizes and durations")
    parser.add_argument(
        "--from-json", nargs="?", const=DOCS / RESULTS_JSON, type=Path, default=None,
        metavar="FILE", help="re-render saved results (default docs/benchmarks.json)",
    )  # fmt: skip
    parser.add_argument("--out-dir", type=Path, default=DOCS)
    args = parser.parse_args()
    exit_on_sigterm()
    if args.from_json is not None:
        results = json.loads(args.from_json.read_text())
    else:
        results = run_all(QUICK if args.quick else Plan())
        args.out_dir.mkdir(parents=True, exist_ok=True)
        (args.out_dir / RESULTS_JSON).write_text(json.dumps(results, indent=1) + "\n")
    for path in write_report(results, args.out_dir):
        print(f"wrote {path}")
    return 1 if results.get("errors") else 0


if __name__ == "__main__":
    sys.exit(main())
