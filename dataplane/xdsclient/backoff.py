"""Reconnect delays: exponential with jitter, capped; the randomness is injectable for tests."""

from __future__ import annotations

import random
from collections.abc import Callable

INITIAL_SECONDS = 0.25
MAX_SECONDS = 15.0


class Backoff:
    def __init__(
        self,
        initial: float = INITIAL_SECONDS,
        maximum: float = MAX_SECONDS,
        *,
        uniform: Callable[[float, float], float] = random.uniform,
    ) -> None:
        self.initial = initial
        self.maximum = maximum
        self._uniform = uniform
        self.attempts = 0

    def next_delay(self) -> float:
        """The wait before the next attempt: uniform in [ceiling/2, ceiling], where the
        ceiling doubles per failed attempt. Half the ceiling is kept so that a fleet of
        proxies spreads out without any of them retrying at once."""
        ceiling = min(self.maximum, self.initial * (2 ** min(self.attempts, 32)))
        self.attempts += 1
        return self._uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        self.attempts = 0
