"""Churn: traffic must survive constant configuration change.

    .venv/bin/python -m tools.bench.churn --duration 60 --dataplane python --variants switch routes

Variant ``switch``: two `agw echo` backends (``a`` and ``b``, on 127.0.75.1 and .2, each
naming itself in x-echo-backend); every 200 ms the stable route is rewritten to point at
the other one. Variant ``routes``: every 200 ms a new HTTPRoute is added and, beyond four
live ones, the oldest deleted. In both, one client keeps a connection alive and one opens a
new connection per request, both to the stable route, which must answer 200 every time; in
``routes`` a third client cycles over the added routes, and a request to one of them counts
once that route has been served, until the moment it is deleted. Every non-200 and every
connection error is a failure; the target is zero. Variants run one after the other on
one gateway."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tools.bench import manifests
from tools.bench.gateway import (
    GatewayNotReady,
    Layout,
    RunningGateway,
    exit_on_sigterm,
    open_testbed,
)
from tools.bench.traffic import Tally, fresh_connection_loop, keepalive_loop, tally_recorder
from tools.bench.waiting import wait_until

DEFAULT_LAYOUT = Layout("127.0.74", "127.0.75")
CHANGE_INTERVAL_SECONDS = 0.2
LIVE_ADDED_ROUTES = 4
VARIANTS = ("switch", "routes")


@dataclass(frozen=True)
class ChurnResult:
    dataplane: str
    variant: str
    duration_s: float
    changes: int
    keepalive: dict[str, object]
    new_connections: dict[str, object]
    added_routes: dict[str, object] | None
    failures: int

    def as_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self)


class BackendSwitcher:
    """Points the stable route (which the testbed starts on ``a``) at ``b``, then ``a``
    again, one flip per tick."""

    def __init__(self, config_dir: Path) -> None:
        self.path = config_dir / manifests.STABLE_FILE
        self.changes = 0

    def tick(self) -> None:
        self.changes += 1
        service = ("a", "b")[self.changes % 2]
        route = manifests.http_route("stable", manifests.STABLE_HOST, service)
        manifests.write_documents(self.path, [route])


class RouteCycler:
    """Adds a route per tick and deletes the oldest beyond a few; judges requests to them."""

    def __init__(self, config_dir: Path) -> None:
        self.config_dir = config_dir
        self.tally = Tally()
        self.changes = 0
        self.unjudged = 0
        self._live: list[str] = []
        self._first_served: dict[str, float] = {}
        self._deleted: set[str] = set()
        self._next = 0
        self._lock = threading.Lock()

    def tick(self) -> None:
        self.changes += 1
        name = f"added{self.changes}"
        path = self.config_dir / f"{name}.yaml"
        manifests.write_documents(path, [manifests.http_route(name, f"{name}.example.com", "a")])
        with self._lock:
            self._live.append(name)
            oldest = self._live.pop(0) if len(self._live) > LIVE_ADDED_ROUTES else None
            if oldest is not None:
                # Marked before the unlink: a 404 seen after this is the deletion working.
                self._deleted.add(f"{oldest}.example.com")
        if oldest is not None:
            (self.config_dir / f"{oldest}.yaml").unlink()

    def next_host(self) -> str | None:
        with self._lock:
            if not self._live:
                return None
            self._next = (self._next + 1) % len(self._live)
            return f"{self._live[self._next]}.example.com"

    def record(
        self, host: str, status: int, backend: str | None, error: BaseException | None
    ) -> None:
        with self._lock:
            if error is None and status == 200:
                self._first_served.setdefault(host, time.perf_counter())
                self.tally.count(status, backend)
            elif host in self._first_served and host not in self._deleted:
                if error is not None:
                    self.tally.count_error(error)
                else:
                    self.tally.count(status, backend)
            else:
                self.unjudged += 1


def run_churn(
    dataplane: str,
    variants: tuple[str, ...],
    duration: float,
    *,
    layout: Layout | None = None,
    startup_timeout: float = 120.0,
) -> list[ChurnResult]:
    """Each variant for ``duration`` seconds, one after the other, on one gateway."""
    with open_testbed(dataplane, layout or DEFAULT_LAYOUT, 0, "churn") as gateway:
        gateway.wait_serving(manifests.STABLE_HOST, startup_timeout)
        return measure_churn(gateway, variants, duration)


def measure_churn(
    gateway: RunningGateway, variants: tuple[str, ...], duration: float
) -> list[ChurnResult]:
    if unknown := set(variants) - set(VARIANTS):
        raise ValueError(f"unknown variants {sorted(unknown)}; known: {VARIANTS}")
    switcher = BackendSwitcher(gateway.config_dir)
    results = []
    for variant in variants:
        if wait_until(lambda: gateway.status(manifests.STABLE_HOST) == 200, 30, 0.02) is None:
            raise GatewayNotReady(f"the stable route is not served before {variant}")
        results.append(_drive(gateway, switcher, variant, duration))
    return results


def _drive(
    gateway: RunningGateway, switcher: BackendSwitcher, variant: str, duration: float
) -> ChurnResult:
    ip, stop = gateway.layout.gateway_ip, threading.Event()
    keepalive, fresh = Tally(), Tally()
    cycler = RouteCycler(gateway.config_dir) if variant == "routes" else None
    host = manifests.STABLE_HOST
    loops = [
        threading.Thread(target=keepalive_loop, args=(ip, host, stop, keepalive)),
        threading.Thread(
            target=fresh_connection_loop, args=(ip, lambda: host, stop, tally_recorder(fresh))
        ),
    ]
    if cycler is not None:
        loops.append(
            threading.Thread(
                target=fresh_connection_loop, args=(ip, cycler.next_host, stop, cycler.record)
            )
        )
    tick = cycler.tick if cycler is not None else switcher.tick
    for loop in loops:
        loop.start()
    start = time.perf_counter()
    try:
        run_ticks(tick, duration, stop)
    finally:
        stop.set()
        for loop in loops:
            loop.join(10)
    changes = cycler.changes if cycler is not None else switcher.changes
    added = cycler.tally.as_dict() | {"unjudged": cycler.unjudged} if cycler else None
    failures = keepalive.failures + fresh.failures + (cycler.tally.failures if cycler else 0)
    return ChurnResult(
        gateway.dataplane, variant, round(time.perf_counter() - start, 2), changes,
        keepalive.as_dict(), fresh.as_dict(), added, failures,
    )  # fmt: skip


def run_ticks(tick: Callable[[], None], duration: float, stop: threading.Event) -> None:
    """Call ``tick`` every 200 ms on a fixed schedule (no drift) for ``duration`` seconds."""
    start = time.perf_counter()
    for index in range(1, int(duration / CHANGE_INTERVAL_SECONDS) + 1):
        delay = start + index * CHANGE_INTERVAL_SECONDS - time.perf_counter()
        if stop.wait(max(0.0, delay)):
            return
        tick()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of churn")
    parser.add_argument("--dataplane", choices=("python", "envoy"), default="python")
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    args = parser.parse_args()
    exit_on_sigterm()
    results = run_churn(args.dataplane, tuple(args.variants), args.duration)
    for result in results:
        print(json.dumps(result.as_dict(), indent=2))
    return 0 if all(result.failures == 0 for result in results) else 1


if __name__ == "__main__":
    sys.exit(main())
