"""Local rate limiting, as Envoy's local_ratelimit filter: one token bucket per route.

Envoy keeps one bucket per route for the whole process, shared by its threads. The agw proxy's
workers are processes, so the route's tokens are divided among them: worker ``i`` of ``n``
gets ``max_tokens // n`` (plus one of the remainder when ``i`` is below it), and the same
share of each fill. The kernel spreads connections over the workers (SO_REUSEPORT), so with
many connections the proxy admits what Envoy would; a single keep-alive connection only ever
sees its worker's share. Sharing one bucket through the parent would cost a round trip per
request on the hot path; dividing costs nothing and is exact with one worker (the default).

Refill is continuous (Envoy's atomic token bucket): ``tokens_per_fill`` per
``fill_interval``, accrued lazily when a request arrives, never above ``max_tokens``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from dataplane.config.ratelimit import LocalRateLimitConfig

# (index, count) of this worker process; set once at worker start.
_share = (0, 1)
RATE_LIMITED_BODY = b"local_rate_limited"


def set_worker_share(index: int, count: int) -> None:
    global _share
    _share = (index, max(count, 1))


def worker_portion(total: int, index: int, count: int) -> int:
    """Worker ``index``'s part of ``total`` when ``count`` workers divide it."""
    return total // count + (1 if index < total % count else 0)


class TokenBucket:
    """Not thread-safe: one per route per worker, used from the worker's event loop only."""

    def __init__(
        self,
        config: LocalRateLimitConfig,
        clock: Callable[[], float] = time.monotonic,
        share: tuple[int, int] | None = None,
    ) -> None:
        index, count = share or _share
        self.limit = config.max_tokens
        self.capacity = worker_portion(config.max_tokens, index, count)
        per_fill = worker_portion(config.tokens_per_fill, index, count)
        self.fill_interval = config.fill_interval
        self.rate = per_fill / config.fill_interval
        self.clock = clock
        self.tokens = float(self.capacity)
        self.updated = clock()

    def _refill(self) -> None:
        now = self.clock()
        if self.rate:
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now

    def take(self) -> bool:
        """Spend one token; False when none is left (the request answers 429)."""
        self._refill()
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False

    def headers(self) -> list[tuple[bytes, bytes]]:
        """Envoy's DRAFT_VERSION_03 x-ratelimit-* headers, after ``take``."""
        remaining = int(self.tokens)
        if self.tokens >= self.capacity or not self.rate:
            reset = 0
        else:
            reset = math.ceil((math.floor(self.tokens) + 1 - self.tokens) / self.rate)
        return [
            (b"x-ratelimit-limit", str(self.limit).encode()),
            (b"x-ratelimit-remaining", str(remaining).encode()),
            (b"x-ratelimit-reset", str(reset).encode()),
        ]
