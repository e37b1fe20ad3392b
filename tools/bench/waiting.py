"""Polling with a deadline: every wait in the benchmarks is bounded."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(
    predicate: Callable[[], bool], timeout: float, interval: float = 0.001
) -> float | None:
    """Seconds until ``predicate`` first held, or None if it did not within ``timeout``."""
    start = time.perf_counter()
    while True:
        if predicate():
            return time.perf_counter() - start
        if time.perf_counter() - start >= timeout:
            return None
        time.sleep(interval)
