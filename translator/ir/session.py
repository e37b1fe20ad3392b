"""Session persistence (GEP-1619) and retry budgets (GEP-3388), as data planes apply them."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class SessionKind(StrEnum):
    COOKIE = "Cookie"
    HEADER = "Header"


@dataclass(frozen=True, slots=True)
class CookieSession:
    """The upstream endpoint travels in cookie ``name``, scoped to ``path``. With
    ``ttl_seconds`` the cookie is permanent (Max-Age) and the session ends after that long;
    without, it is a browser-session cookie with no expiry."""

    name: str
    path: str = "/"
    ttl_seconds: int | None = None

    @property
    def kind(self) -> SessionKind:
        return SessionKind.COOKIE


@dataclass(frozen=True, slots=True)
class HeaderSession:
    """The upstream endpoint travels in request and response header ``name`` (lower-case)."""

    name: str

    @property
    def kind(self) -> SessionKind:
        return SessionKind.HEADER


SessionPersistence = CookieSession | HeaderSession


@dataclass(frozen=True, slots=True)
class RetryBudget:
    """GEP-3388: retries to a cluster within a sliding ``interval_seconds`` may not exceed
    ``percent`` of its requests in that interval, except that ``min_retries`` retries per
    ``min_retry_interval_seconds`` are always allowed."""

    percent: int
    interval_seconds: float
    min_retries: int = 0
    min_retry_interval_seconds: float = 1.0
