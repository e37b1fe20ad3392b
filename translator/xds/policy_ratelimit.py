"""Global rate limiting on Envoy: the ``envoy.filters.http.ratelimit`` filter.

One filter per distinct service settings (``ir.RateLimitService``), disabled on the connection
manager and turned on by the routes that use it with a ``RateLimitPerRoute`` holding their
descriptors (``rate_limits``, which replace any route or virtual-host level ones). Each IR
descriptor is one ``RateLimit`` whose actions produce its entries in order; CEL entries (agw
proxy only; stage 1 never gives them to Envoy gateways) are an ``extension`` action whose
typed config is agw's ``CelDescriptorEntry`` (proto/agw/filters/v1alpha1/ratelimit.proto).

Over the limit Envoy answers 429 with ``x-envoy-ratelimited: true``; when the service cannot
answer it lets the request through, or answers 500 with ``failure_mode_deny``.
"""

from __future__ import annotations

from envoy.config.core.v3 import config_source_pb2, extension_pb2, grpc_service_pb2
from envoy.config.ratelimit.v3 import rls_pb2
from envoy.config.route.v3 import route_components_pb2 as route_pb2
from envoy.config.route.v3.route_components_pb2 import HeaderMatcher
from envoy.extensions.filters.http.ratelimit.v3 import rate_limit_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from envoy.type.matcher.v3 import string_pb2
from google.protobuf import duration_pb2
from google.protobuf.message import Message

from agwproto.agw.filters.v1alpha1 import ratelimit_pb2
from translator.ir.ratelimit import (
    CelEntry,
    DescriptorEntry,
    GenericEntry,
    GlobalRateLimit,
    HeaderEntry,
    HeaderMatchEntry,
    RateLimitService,
    RemoteAddressEntry,
)
from translator.xds.extensions import pack

CEL_DESCRIPTOR_EXTENSION = "agw.rate_limit.cel"
_Action = route_pb2.RateLimit.Action


def build_rate_limit_filters(services: tuple[RateLimitService, ...]) -> list[Message]:
    return [_filter(service) for service in services]


def _filter(service: RateLimitService) -> Message:
    timeout = duration_pb2.Duration()
    timeout.FromNanoseconds(round(service.timeout_seconds * 1_000_000_000))
    config = rate_limit_pb2.RateLimit(
        domain=service.domain,
        timeout=timeout,
        failure_mode_deny=service.failure_mode_deny,
        rate_limit_service=_service(service.cluster),
    )
    return hcm_pb2.HttpFilter(name=service.name, typed_config=pack(config), disabled=True)


def _service(cluster: str) -> Message:
    return rls_pb2.RateLimitServiceConfig(
        grpc_service=grpc_service_pb2.GrpcService(
            envoy_grpc=grpc_service_pb2.GrpcService.EnvoyGrpc(cluster_name=cluster)
        ),
        transport_api_version=config_source_pb2.V3,
    )


def build_rate_limit_per_route(limit: GlobalRateLimit) -> Message:
    return pack(
        rate_limit_pb2.RateLimitPerRoute(
            rate_limits=[
                route_pb2.RateLimit(actions=[_action(entry) for entry in entries])
                for entries in limit.descriptors
            ]
        )
    )


def _action(entry: DescriptorEntry) -> Message:
    if isinstance(entry, HeaderEntry):
        headers = _Action.RequestHeaders(header_name=entry.header, descriptor_key=entry.key)
        return _Action(request_headers=headers)
    if isinstance(entry, RemoteAddressEntry):
        return _Action(remote_address=_Action.RemoteAddress())
    if isinstance(entry, GenericEntry):
        generic = _Action.GenericKey(descriptor_key=entry.key, descriptor_value=entry.value)
        return _Action(generic_key=generic)
    if isinstance(entry, HeaderMatchEntry):
        matcher = HeaderMatcher(
            name=entry.header, string_match=string_pb2.StringMatcher(exact=entry.expected)
        )
        match = _Action.HeaderValueMatch(
            descriptor_key=entry.key, descriptor_value=entry.value, headers=[matcher]
        )
        return _Action(header_value_match=match)
    return _Action(extension=_cel_extension(entry))


def _cel_extension(entry: CelEntry) -> Message:
    config = ratelimit_pb2.CelDescriptorEntry(key=entry.key, expression=entry.expression)
    return extension_pb2.TypedExtensionConfig(
        name=CEL_DESCRIPTOR_EXTENSION, typed_config=pack(config)
    )
