"""CORS (GEP-1767) on Envoy: the cors HTTP filter with a per-route CorsPolicy."""

from __future__ import annotations

import re

from envoy.extensions.filters.http.cors.v3 import cors_pb2
from envoy.type.matcher.v3 import regex_pb2, string_pb2
from google.protobuf.message import Message

from translator.ir import CorsPolicy


def build_cors_policy(policy: CorsPolicy) -> Message:
    built = cors_pb2.CorsPolicy(
        allow_origin_string_match=[_origin(origin) for origin in policy.allow_origins],
        allow_methods=", ".join(policy.allow_methods),
        allow_headers=", ".join(policy.allow_headers),
        expose_headers=", ".join(policy.expose_headers),
        max_age=str(policy.max_age_seconds),
    )
    built.allow_credentials.value = policy.allow_credentials
    return built


def _origin(origin: str) -> Message:
    if origin == "*":
        return string_pb2.StringMatcher(safe_regex=regex_pb2.RegexMatcher(regex=".*"))
    if "*" in origin:
        # A wildcard stands for one or more host labels: "https://*.example.com".
        pattern = re.escape(origin).replace(r"\*", r"[^/:]+")
        return string_pb2.StringMatcher(safe_regex=regex_pb2.RegexMatcher(regex=pattern))
    return string_pb2.StringMatcher(exact=origin)
