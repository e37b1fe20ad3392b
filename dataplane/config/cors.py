"""Compile a route's ``envoy.extensions.filters.http.cors.v3.CorsPolicy``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from envoy.extensions.filters.http.cors.v3 import cors_pb2

from dataplane.config.matcher import BytesPredicate, compile_string_match
from dataplane.config.support import check_fields
from dataplane.errors import UnsupportedValue


@dataclass(frozen=True, slots=True)
class CorsPolicy:
    """What the cors filter answers for one route. Empty strings mean the header is left out,
    as Envoy does."""

    origins: tuple[BytesPredicate, ...]
    allow_methods: bytes = b""
    allow_headers: bytes = b""
    expose_headers: bytes = b""
    max_age: bytes = b""
    allow_credentials: bool = False

    def allows(self, origin: bytes) -> bool:
        return any(matches(origin) for matches in self.origins)


def compile_cors_policy(packed: Any, path: str) -> CorsPolicy:
    policy = cors_pb2.CorsPolicy()
    if not packed.Unpack(policy):
        raise UnsupportedValue(f"{path}.type_url", packed.type_url)
    check_fields(policy, "CorsPolicy")
    return CorsPolicy(
        origins=tuple(
            compile_string_match(matcher, "CorsPolicy.allow_origin_string_match")
            for matcher in policy.allow_origin_string_match
        ),
        allow_methods=policy.allow_methods.encode("latin-1"),
        allow_headers=policy.allow_headers.encode("latin-1"),
        expose_headers=policy.expose_headers.encode("latin-1"),
        max_age=policy.max_age.encode("latin-1"),
        allow_credentials=policy.allow_credentials.value,
    )
