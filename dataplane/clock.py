"""A coarse monotonic clock the proxy's ticker advances; reading it costs an attribute load."""

from __future__ import annotations


class Clock:
    __slots__ = ("now",)

    def __init__(self, now: float = 0.0) -> None:
        self.now = now
