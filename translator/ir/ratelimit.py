"""Global rate limits: a rate limit service (Envoy's ``envoy.service.ratelimit.v3`` protocol)
asked per request with descriptors built from the request, from AgentgatewayPolicy
``traffic.rateLimit.global`` (translator.gatewayapi.policy.ratelimit_global).

Each descriptor is a list of entries; an entry that cannot be computed for a request (a
missing header, a header that does not match, a CEL error, a CEL ``false`` or ``null``) leaves
its whole descriptor out of that request, as Envoy's rate limit actions do."""

from __future__ import annotations

from dataclasses import dataclass

RATE_LIMIT_FILTER = "envoy.filters.http.ratelimit"
# The key Envoy's remote_address action always uses.
REMOTE_ADDRESS_KEY = "remote_address"


@dataclass(frozen=True, slots=True)
class HeaderEntry:
    """The request header's value (``:method``, ``:path``, ``:authority`` included)."""

    key: str
    header: str


@dataclass(frozen=True, slots=True)
class RemoteAddressEntry:
    """The client's address; Envoy's key is always ``remote_address``."""

    key: str = REMOTE_ADDRESS_KEY


@dataclass(frozen=True, slots=True)
class GenericEntry:
    """A fixed value."""

    key: str
    value: str


@dataclass(frozen=True, slots=True)
class HeaderMatchEntry:
    """``value`` (always "true") when ``header`` equals ``expected``; absent otherwise."""

    key: str
    header: str
    expected: str
    value: str = "true"


@dataclass(frozen=True, slots=True)
class CelEntry:
    """A CEL expression's value as a string; only the agw proxy evaluates these."""

    key: str
    expression: str


DescriptorEntry = HeaderEntry | RemoteAddressEntry | GenericEntry | HeaderMatchEntry | CelEntry


@dataclass(frozen=True, slots=True)
class RateLimitService:
    """One rate limit filter: whom to ask, under which domain, and what to do when the
    service cannot answer. Routes sharing these settings share the filter."""

    name: str
    cluster: str
    domain: str
    failure_mode_deny: bool
    # Envoy defaults to 20 ms; a Python service on a busy host needs more.
    timeout_seconds: float = 1.0


@dataclass(frozen=True, slots=True)
class GlobalRateLimit:
    service: RateLimitService
    descriptors: tuple[tuple[DescriptorEntry, ...], ...]
