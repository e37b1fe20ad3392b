"""Hostname intersection and listener specificity (Gateway API wildcards match one or more
labels: ``*.example.com`` matches ``a.example.com`` and ``a.b.example.com``, not
``example.com``)."""

from __future__ import annotations

from collections.abc import Sequence

ANY = "*"


def is_wildcard(hostname: str) -> bool:
    return hostname.startswith("*.")


def covers(pattern: str | None, hostname: str) -> bool:
    """Whether ``pattern`` (a listener hostname; None means any) matches every host that
    ``hostname`` (exact, wildcard or ``*``) can stand for."""
    if pattern is None or pattern == ANY:
        return True
    if hostname == ANY:
        return False
    if is_wildcard(pattern):
        suffix = pattern[1:]  # ".example.com"
        if is_wildcard(hostname):
            return hostname[1:].endswith(suffix)
        return hostname.endswith(suffix) and len(hostname) > len(suffix)
    return pattern == hostname


def intersect(listener: str | None, route: str) -> str | None:
    """The hostname requests must carry to reach a route through a listener, or None if no
    request can. ``route`` is a route hostname, or ``*`` for a route with no hostnames."""
    if listener is None or listener == ANY:
        return route
    if route == ANY:
        return listener
    if covers(listener, route):
        return route
    if covers(route, listener):
        return listener
    return None


def intersections(listener: str | None, route_hostnames: Sequence[str]) -> list[str]:
    hostnames = route_hostnames or [ANY]
    result: list[str] = []
    for hostname in hostnames:
        common = intersect(listener, hostname)
        if common is not None and common not in result:
            result.append(common)
    return result


def specificity(pattern: str | None) -> tuple[int, int]:
    """Sort key, higher is more specific: exact names, then longer wildcard suffixes, then any."""
    if pattern is None or pattern == ANY:
        return (0, 0)
    if is_wildcard(pattern):
        return (1, len(pattern))
    return (2, len(pattern))
