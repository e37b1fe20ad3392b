"""Route propagation: with N HTTPRoutes attached, write one more HTTPRoute into the directory
that `agw run` serves and time how long until the first 200 through the proxy.

    .venv/bin/python tools/bench/propagation.py --routes 1000 --trials 50 --dataplane python

Everything runs on loopback: the gateway gets 127.0.72.1, the `agw echo` backends listen on
127.0.73.1 and .2. Each trial writes a new route file (with a new hostname) and polls the gateway
every millisecond on fresh connections, for at most --timeout seconds; the route is deleted
again (and seen gone) before the next trial. Prints mean, p50, p99 and max in milliseconds
as JSON; `run_propagation` returns them as data."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `tools.bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tools.bench import manifests
from tools.bench.gateway import (
    GatewayNotReady,
    Layout,
    RunningGateway,
    exit_on_sigterm,
    open_testbed,
)
from tools.bench.latency import LatencySummary
from tools.bench.waiting import wait_until

DEFAULT_LAYOUT = Layout("127.0.72", "127.0.73")


@dataclass(frozen=True)
class PropagationResult:
    dataplane: str
    routes: int
    trials: int
    latency: LatencySummary
    samples_ms: list[float]

    def as_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self)


def run_propagation(
    routes: int,
    trials: int,
    dataplane: str,
    *,
    layout: Layout | None = None,
    timeout: float = 30.0,
    startup_timeout: float = 600.0,
) -> PropagationResult:
    with open_testbed(dataplane, layout or DEFAULT_LAYOUT, routes, "propagation") as gateway:
        last = manifests.bulk_host(routes - 1) if routes else manifests.STABLE_HOST
        gateway.wait_serving(last, startup_timeout)
        return measure_propagation(gateway, routes, trials, timeout)


def measure_propagation(
    gateway: RunningGateway, routes: int, trials: int, timeout: float = 30.0
) -> PropagationResult:
    """``trials`` new routes on a serving gateway that already has ``routes`` attached."""
    samples = [_trial(gateway, trial, timeout) for trial in range(trials)]
    return PropagationResult(gateway.dataplane, routes, trials, LatencySummary.of(samples), samples)


def _trial(gateway: RunningGateway, trial: int, timeout: float) -> float:
    host = f"new{trial}.example.com"
    path = gateway.config_dir / "new.yaml"
    start = time.perf_counter()
    manifests.write_documents(path, [manifests.http_route(f"new{trial}", host, "a")])
    if wait_until(lambda: gateway.status(host) == 200, timeout) is None:
        raise GatewayNotReady(f"trial {trial}: {host} not served within {timeout}s")
    took_ms = (time.perf_counter() - start) * 1000
    path.unlink()
    if wait_until(lambda: gateway.status(host) == 404, timeout) is None:
        raise GatewayNotReady(f"trial {trial}: {host} still served {timeout}s after deletion")
    return round(took_ms, 3)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--routes", type=int, default=1000)
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--dataplane", choices=("python", "envoy"), default="python")
    parser.add_argument("--timeout", type=float, default=30.0)
    args = parser.parse_args()
    exit_on_sigterm()
    try:
        result = run_propagation(args.routes, args.trials, args.dataplane, timeout=args.timeout)
    except GatewayNotReady as error:
        print(error, file=sys.stderr)
        return 1
    print(
        json.dumps(
            {"dataplane": result.dataplane, "routes": result.routes, "trials": result.trials}
            | dataclasses.asdict(result.latency)
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
