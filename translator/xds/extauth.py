"""External authorization (GEP-1494) on Envoy: the ext_authz HTTP filter.

One filter per distinct ``ExtAuth`` settings, disabled by default and enabled by the routes that
use it (an ``ExtAuthzPerRoute`` in their per-filter configs). Envoy 1.40 can override the
service per route (``check_settings.grpc_service`` / ``http_service``), but not the headers sent
to a gRPC service (``allowed_headers`` is filter-wide), so one filter per settings is the only
way to honour every combination exactly; routes sharing settings share the filter.

Failure: fail closed (``failure_mode_allow`` false), as GEP-1494 requires of an auth filter
(an AgentgatewayPolicy extAuth may say FailOpen instead)
and as Envoy Gateway configures by default; an unreachable or erroring auth service answers
403, Envoy's ``status_on_error`` default, set explicitly so both data planes agree on it.

Body: GEP-1494's ``forwardBody.maxSize`` sends at most that many bytes, truncating a longer
body (the v1.6 API text maintainers settled on), hence ``allow_partial_message``.
"""

from __future__ import annotations

from envoy.config.core.v3 import config_source_pb2, grpc_service_pb2, http_uri_pb2
from envoy.extensions.filters.http.ext_authz.v3 import ext_authz_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from envoy.type.matcher.v3 import string_pb2
from envoy.type.v3 import http_status_pb2
from google.protobuf import duration_pb2
from google.protobuf.message import Message

from translator.ir import ExtAuth, ExtAuthProtocol
from translator.xds.extensions import pack

STATUS_ON_ERROR = 403


def build_ext_authz_filter(ext_auth: ExtAuth) -> Message:
    """The HCM filter for one settings, off unless a route turns it on."""
    config = ext_authz_pb2.ExtAuthz(
        transport_api_version=config_source_pb2.V3,
        failure_mode_allow=ext_auth.failure_mode_allow,
        status_on_error=http_status_pb2.HttpStatus(code=STATUS_ON_ERROR),
    )
    if ext_auth.protocol is ExtAuthProtocol.GRPC:
        config.grpc_service.CopyFrom(
            grpc_service_pb2.GrpcService(
                envoy_grpc=grpc_service_pb2.GrpcService.EnvoyGrpc(cluster_name=ext_auth.cluster),
                timeout=_duration(ext_auth.timeout_seconds),
            )
        )
    else:
        config.http_service.CopyFrom(_http_service(ext_auth))
    if ext_auth.allowed_headers:
        config.allowed_headers.CopyFrom(_names(ext_auth.allowed_headers))
    if ext_auth.max_body_bytes is not None:
        config.with_request_body.CopyFrom(
            ext_authz_pb2.BufferSettings(
                max_request_bytes=ext_auth.max_body_bytes, allow_partial_message=True
            )
        )
    return hcm_pb2.HttpFilter(name=ext_auth.name, typed_config=pack(config), disabled=True)


def build_ext_authz_per_route(ext_auth: ExtAuth) -> Message:
    """Turns a disabled ext_authz filter on for one route; the filter holds the settings but
    the context extensions, which Envoy takes only per route."""
    settings = ext_authz_pb2.CheckSettings(context_extensions=dict(ext_auth.context_extensions))
    return pack(ext_authz_pb2.ExtAuthzPerRoute(check_settings=settings))


def _http_service(ext_auth: ExtAuth) -> Message:
    service = ext_authz_pb2.HttpService(
        server_uri=http_uri_pb2.HttpUri(
            uri=f"http://{ext_auth.authority}",
            cluster=ext_auth.cluster,
            timeout=_duration(ext_auth.timeout_seconds),
        ),
        path_prefix=ext_auth.path_prefix,
    )
    if ext_auth.allowed_response_headers:
        service.authorization_response.allowed_upstream_headers.CopyFrom(
            _names(ext_auth.allowed_response_headers)
        )
    return service


def _names(names: tuple[str, ...]) -> Message:
    return string_pb2.ListStringMatcher(
        patterns=[string_pb2.StringMatcher(exact=name, ignore_case=True) for name in names]
    )


def _duration(seconds: float) -> Message:
    duration = duration_pb2.Duration()
    duration.FromNanoseconds(round(seconds * 1_000_000_000))
    return duration
