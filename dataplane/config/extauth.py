"""Compile the ``envoy.filters.http.ext_authz`` HTTP filter and its per-route settings.

The filter config says whom to ask and what to send; a route's ``ExtAuthzPerRoute`` turns a
filter that is disabled by default on (any per-route config does, as in Envoy) or, with
``disabled``, a filter that is on by default off.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from envoy.extensions.filters.http.ext_authz.v3 import ext_authz_pb2

from dataplane.config.matcher import BytesPredicate, compile_string_match
from dataplane.config.support import check_fields
from dataplane.config.values import seconds
from dataplane.errors import InvalidConfig, UnsupportedValue

EXT_AUTHZ_TYPE = "envoy.extensions.filters.http.ext_authz.v3.ExtAuthz"
EXT_AUTHZ_PER_ROUTE_TYPE = EXT_AUTHZ_TYPE + "PerRoute"
# Envoy's defaults: a gRPC service's call deadline, and the answer when the service fails.
DEFAULT_TIMEOUT = 0.2
DEFAULT_STATUS_ON_ERROR = 403


@dataclass(frozen=True, slots=True)
class ExtAuthzConfig:
    """One ext_authz filter. ``allowed_headers`` None means the protocol's default (gRPC:
    every header; HTTP: Host, Method, Path, Content-Length and Authorization)."""

    name: str
    cluster: str
    grpc: bool
    timeout: float = DEFAULT_TIMEOUT
    path_prefix: bytes = b""
    allowed_headers: tuple[BytesPredicate, ...] | None = None
    # Headers of an HTTP service's OK answer copied to the upstream request.
    upstream_headers: tuple[BytesPredicate, ...] = ()
    # None: no body is sent to the service.
    max_body_bytes: int | None = None
    allow_partial_body: bool = False
    status_on_error: int = DEFAULT_STATUS_ON_ERROR
    failure_mode_allow: bool = False
    # Off unless a route's per-filter config turns it on.
    disabled: bool = False

    def allows_header(self, name: bytes) -> bool:
        allowed = self.allowed_headers
        return allowed is None or any(test(name) for test in allowed)


def is_ext_authz(http_filter: Any) -> bool:
    return bool(
        http_filter.HasField("typed_config")
    ) and http_filter.typed_config.type_url.endswith("/" + EXT_AUTHZ_TYPE)


def compile_ext_authz(http_filter: Any) -> ExtAuthzConfig:
    config = ext_authz_pb2.ExtAuthz()
    http_filter.typed_config.Unpack(config)
    where = f"HttpFilter {http_filter.name!r}"
    check_fields(config, "ExtAuthz", where)
    which = config.WhichOneof("services")
    if which == "grpc_service":
        service = config.grpc_service
        if not service.HasField("envoy_grpc"):
            raise UnsupportedValue("ExtAuthz.grpc_service", "google_grpc", where)
        cluster = service.envoy_grpc.cluster_name
        timeout = seconds(service.timeout) if service.HasField("timeout") else DEFAULT_TIMEOUT
        prefix = b""
        upstream: tuple[BytesPredicate, ...] = ()
    elif which == "http_service":
        http = config.http_service
        cluster = http.server_uri.cluster
        timeout = seconds(http.server_uri.timeout)
        prefix = http.path_prefix.encode()
        upstream = _matchers(
            http.authorization_response.allowed_upstream_headers,
            "HttpService.authorization_response.allowed_upstream_headers",
        )
    else:
        raise InvalidConfig(f"ExtAuthz ({where}): grpc_service or http_service is required")
    if not cluster:
        raise InvalidConfig(f"ExtAuthz ({where}): the service names no cluster")
    body = config.with_request_body if config.HasField("with_request_body") else None
    return ExtAuthzConfig(
        name=http_filter.name,
        cluster=cluster,
        grpc=which == "grpc_service",
        timeout=timeout,
        path_prefix=prefix,
        allowed_headers=(
            _matchers(config.allowed_headers, "ExtAuthz.allowed_headers")
            if config.HasField("allowed_headers")
            else None
        ),
        upstream_headers=upstream,
        max_body_bytes=body.max_request_bytes if body is not None else None,
        allow_partial_body=body.allow_partial_message if body is not None else False,
        status_on_error=(
            config.status_on_error.code or DEFAULT_STATUS_ON_ERROR
            if config.HasField("status_on_error")
            else DEFAULT_STATUS_ON_ERROR
        ),
        failure_mode_allow=config.failure_mode_allow,
        disabled=http_filter.disabled,
    )


def _matchers(matcher: Any, path: str) -> tuple[BytesPredicate, ...]:
    return tuple(compile_string_match(pattern, path) for pattern in matcher.patterns)


def compile_ext_authz_per_route(packed: Any, path: str) -> tuple[bool, tuple[tuple[str, str], ...]]:
    """Whether the route turns the filter on (or off), and the context extensions it sends."""
    per_route = ext_authz_pb2.ExtAuthzPerRoute()
    if not packed.Unpack(per_route):
        raise UnsupportedValue(f"{path}.type_url", packed.type_url)
    check_fields(per_route, "ExtAuthzPerRoute")
    extensions = per_route.check_settings.context_extensions
    return not per_route.disabled, tuple(sorted(extensions.items()))


def is_ext_authz_per_route(packed: Any) -> bool:
    return bool(packed.type_url.endswith("/" + EXT_AUTHZ_PER_ROUTE_TYPE))
