"""Jittered exponential backoff, with the randomness and the sleeping injectable for tests."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field


@dataclass
class Backoff:
    initial: float = 0.5
    maximum: float = 30.0
    factor: float = 2.0
    # Each delay is scaled by a random factor in [1 - jitter, 1 + jitter], so that replicas
    # and watchers that failed together do not retry together.
    jitter: float = 0.5
    random: Callable[[], float] = random.random
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    attempts: int = field(default=0, init=False)

    def next_delay(self) -> float:
        base = min(self.maximum, self.initial * self.factor ** min(self.attempts, 32))
        self.attempts += 1
        return max(0.0, base * (1 + self.jitter * (2 * self.random() - 1)))

    async def wait(self) -> float:
        delay = self.next_delay()
        await self.sleep(delay)
        return delay

    def reset(self) -> None:
        self.attempts = 0
