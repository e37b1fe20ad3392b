"""Compile ``envoy.filters.http.csrf`` CsrfPolicy configs: the inert one in the chain and the
per-route ones that turn the check on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from envoy.extensions.filters.http.csrf.v3 import csrf_pb2

from dataplane.config.matcher import BytesPredicate, compile_string_match
from dataplane.config.support import check_fields
from dataplane.errors import UnsupportedField, UnsupportedValue

CSRF_FILTER = "envoy.filters.http.csrf"


@dataclass(frozen=True, slots=True)
class CsrfConfig:
    """Origins (host[:port]) accepted besides the request's own Host."""

    additional_origins: tuple[BytesPredicate, ...] = ()


def _unpack(packed: Any, path: str) -> Any:
    policy = csrf_pb2.CsrfPolicy()
    if not packed.Unpack(policy):
        raise UnsupportedValue(f"{path}.type_url", packed.type_url)
    check_fields(policy, "CsrfPolicy")
    if policy.HasField("shadow_enabled"):
        raise UnsupportedField("CsrfPolicy.shadow_enabled")
    return policy


def _enabled(policy: Any) -> bool:
    value = policy.filter_enabled.default_value
    if value.denominator != 0 or value.numerator not in (0, 100):
        raise UnsupportedValue(
            "CsrfPolicy.filter_enabled", f"{value.numerator}/{value.denominator} (0 or 100%)"
        )
    return bool(value.numerator)


def check_csrf_filter(packed: Any) -> None:
    """The chain's policy must be off: routes turn the check on."""
    if _enabled(_unpack(packed, "HttpFilter.typed_config")):
        raise UnsupportedValue("CsrfPolicy.filter_enabled", "on the connection manager")


def compile_csrf_policy(packed: Any, path: str) -> CsrfConfig | None:
    """A route's check; None when the route's policy leaves it off."""
    policy = _unpack(packed, path)
    if not _enabled(policy):
        return None
    return CsrfConfig(
        tuple(
            compile_string_match(matcher, "CsrfPolicy.additional_origins")
            for matcher in policy.additional_origins
        )
    )
