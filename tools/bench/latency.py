"""Summaries of latency samples: mean, p50, p99 and max, in milliseconds."""

from __future__ import annotations

import statistics
from dataclasses import dataclass


@dataclass(frozen=True)
class LatencySummary:
    samples: int
    mean_ms: float
    p50_ms: float
    p99_ms: float
    max_ms: float

    @classmethod
    def of(cls, samples_ms: list[float]) -> LatencySummary:
        if not samples_ms:
            raise ValueError("no samples")
        ordered = sorted(samples_ms)
        # Nearest-rank p99: with 50 trials it is the slowest but one, never an interpolation.
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
        return cls(
            samples=len(ordered),
            mean_ms=round(statistics.fmean(ordered), 2),
            p50_ms=round(statistics.median(ordered), 2),
            p99_ms=round(p99, 2),
            max_ms=round(ordered[-1], 2),
        )
