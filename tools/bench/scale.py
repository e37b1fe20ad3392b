"""Scale cost: what the control plane and the proxies cost with thousands of routes.

    .venv/bin/python -m tools.bench.scale --routes 1000 5000 10000 --dataplane python

For each size, `agw run` starts on a directory holding that many HTTPRoutes; the result has
the time from its start until the Gateway reports Programmed=True and until the last route
answers 200, then the control plane's RSS and CPU (from /proc/PID/stat and status) over an
idle window and over a window in which one route's backend switches every 200 ms, and the
RSS of every proxy process (`agw proxy` and each worker, or Envoy). Gateway on 127.0.76.1,
backends on 127.0.77.x."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from tools.bench import manifests, procfs
from tools.bench.churn import BackendSwitcher, run_ticks
from tools.bench.gateway import (
    GatewayNotReady,
    Layout,
    RunningGateway,
    exit_on_sigterm,
    open_testbed,
)
from tools.bench.waiting import wait_until

DEFAULT_LAYOUT = Layout("127.0.76", "127.0.77")


@dataclass(frozen=True)
class ProcessCost:
    role: str
    rss_mib: float


@dataclass(frozen=True)
class ScaleResult:
    dataplane: str
    routes: int
    programmed_s: float
    serving_s: float
    idle_window_s: float
    churn_window_s: float
    churn_changes: int
    control_plane_rss_mib_idle: float
    control_plane_cpu_cores_idle: float
    control_plane_rss_mib_churn_max: float
    control_plane_cpu_cores_churn: float
    proxies: list[ProcessCost]

    @property
    def proxy_rss_mib_total(self) -> float:
        return round(sum(process.rss_mib for process in self.proxies), 1)

    def as_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self) | {"proxy_rss_mib_total": self.proxy_rss_mib_total}


def role_of(pid: int) -> str:
    argv = procfs.command_line(pid)
    if argv and Path(argv[0]).name == "envoy":
        return "envoy"
    if "proxy" in argv:
        return "agw proxy (xDS client, supervisor)"
    return "agw proxy worker"


def run_scale(
    routes: int,
    dataplane: str,
    *,
    idle_window: float = 10.0,
    churn_window: float = 10.0,
    layout: Layout | None = None,
    startup_timeout: float = 900.0,
) -> ScaleResult:
    with open_testbed(dataplane, layout or DEFAULT_LAYOUT, routes, "scale") as gateway:
        return measure_scale(gateway, routes, idle_window, churn_window, startup_timeout)


def measure_scale(
    gateway: RunningGateway,
    routes: int,
    idle_window: float,
    churn_window: float,
    startup_timeout: float = 900.0,
) -> ScaleResult:
    """Call right after the gateway started: the start-up times are measured from then."""
    programmed_s, serving_s = _time_to_ready(gateway, routes, startup_timeout)
    pid = gateway.control_plane_pid
    idle = procfs.CpuWindow.open(pid, time.perf_counter())
    threading.Event().wait(idle_window)  # a measurement window, not a wait on state
    idle_cores, idle_rss = idle.cores(time.perf_counter()), procfs.rss_mib(pid)
    switcher = BackendSwitcher(gateway.config_dir)
    churn = procfs.CpuWindow.open(pid, time.perf_counter())
    peak = [idle_rss]

    def tick() -> None:
        switcher.tick()
        peak.append(procfs.rss_mib(pid))

    run_ticks(tick, churn_window, threading.Event())
    churn_cores = churn.cores(time.perf_counter())
    if wait_until(lambda: gateway.status(manifests.STABLE_HOST) == 200, 30, 0.05) is None:
        raise GatewayNotReady("the churned route stopped serving")
    proxies = [
        ProcessCost(role_of(proxy), round(procfs.rss_mib(proxy), 1))
        for proxy in gateway.proxy_pids()
    ]
    return ScaleResult(
        gateway.dataplane, routes, round(programmed_s, 2), round(serving_s, 2), idle_window,
        churn_window, switcher.changes, round(idle_rss, 1), round(idle_cores, 3),
        round(max(peak), 1), round(churn_cores, 3), proxies,
    )  # fmt: skip


def _time_to_ready(gateway: RunningGateway, routes: int, timeout: float) -> tuple[float, float]:
    """Seconds from `agw run`'s start to Programmed=True and to the last route's first 200."""
    last_host = manifests.bulk_host(max(routes - 1, 0))
    seen: dict[str, float] = {}

    def ready() -> bool:
        now = time.perf_counter() - gateway.started_at
        if "programmed" not in seen and gateway.is_programmed():
            seen["programmed"] = now
        if "serving" not in seen and gateway.status(last_host) == 200:
            seen["serving"] = now
        return len(seen) == 2

    if wait_until(ready, timeout, 0.02) is None:
        raise GatewayNotReady(f"not programmed and serving within {timeout:.0f}s: {seen}")
    return seen["programmed"], seen["serving"]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--routes", type=int, nargs="+", default=[1000, 5000, 10000])
    parser.add_argument("--dataplane", choices=("python", "envoy"), default="python")
    parser.add_argument("--idle-window", type=float, default=10.0)
    parser.add_argument("--churn-window", type=float, default=10.0)
    args = parser.parse_args()
    exit_on_sigterm()
    for routes in args.routes:
        result = run_scale(
            routes, args.dataplane, idle_window=args.idle_window, churn_window=args.churn_window
        )
        print(json.dumps(result.as_dict()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
