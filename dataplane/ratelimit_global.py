"""The ``envoy.filters.http.ratelimit`` filter on the request path, as Envoy's: for each rate
limit filter a route turns on, compute the route's descriptors from the request and ask the
service (``RateLimitService/ShouldRateLimit``) before the request goes anywhere.

Over the limit: 429 with ``x-envoy-ratelimited: true``, the headers the service adds and the
body it gives (none by default). Allowed: the service's ``request_headers_to_add`` are
appended to the request sent upstream, its ``response_headers_to_add`` to the response the
client gets, as Envoy's filter does. No answer (unreachable, a failed TLS handshake or
certificate check, an error status, past the filter's timeout): the request goes on, or
answers 500 under ``failure_mode_deny``. A request none of whose descriptors apply is not sent
to the service at all. Held while the service decides by the same hold as ext_authz
(``dataplane.extauth``), after the ext_authz checks, as the filters are ordered.

CEL entries see what authentication found (``jwt``, ``basicAuth``, ``apiKey``): the auth
filters run before this one, as Envoy's jwt_authn runs before its ratelimit filter.
"""

from __future__ import annotations

import asyncio
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from envoy.service.ratelimit.v3 import rls_pb2

from cel import Activation, EvaluationError, UInt
from dataplane.cel.exchange import exchange_variables
from dataplane.config.ratelimit_global import Descriptor, DescriptorAction, RateLimitFilter
from dataplane.config.route_table import RouteEntry
from dataplane.errors import GrpcCallError
from dataplane.grpc_unary import GrpcUnaryClient, grpc_status
from dataplane.upstream.balancer import pick_endpoint

if TYPE_CHECKING:
    from dataplane.chain import HttpChain
    from dataplane.http1.exchange import Exchange

SHOULD_RATE_LIMIT_PATH = b"/envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit"
RATE_LIMITED_HEADER = (b"x-envoy-ratelimited", b"true")
STATUS_ON_ERROR = 500
Fields = list[tuple[bytes, bytes]]
_CLIENTS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, GrpcUnaryClient] = (
    weakref.WeakKeyDictionary()
)


@dataclass(frozen=True, slots=True)
class RateLimitOutcome:
    """Allowed (``status`` 0) with headers to append to the upstream request and to the
    response, or a reply to send (``headers``, ``body``)."""

    status: int = 0
    headers: Fields = field(default_factory=list)
    body: bytes = b""
    request_headers: Fields = field(default_factory=list)
    response_headers: Fields = field(default_factory=list)


def applicable(
    filters: tuple[RateLimitFilter, ...], route: RouteEntry
) -> list[tuple[RateLimitFilter, tuple[Descriptor, ...]]]:
    """The filters on for ``route``, in chain order, with the route's descriptors."""
    per_route = dict(route.global_rate_limits)
    return [
        (f, per_route.get(f.name, ())) for f in filters if f.name in per_route or not f.disabled
    ]


def applies(route: RouteEntry, chain: HttpChain) -> bool:
    return any(descriptors for _, descriptors in applicable(chain.settings.rate_limits, route))


async def decide(exchange: Exchange, route: RouteEntry, chain: HttpChain) -> RateLimitOutcome:
    added: Fields = []
    to_response: Fields = []
    for config, descriptors in applicable(chain.settings.rate_limits, route):
        computed = [entries for entries in (_entries(d, exchange) for d in descriptors) if entries]
        if not computed:
            continue
        try:
            answer = await asyncio.wait_for(_ask(config, chain, computed), config.timeout)
        except (GrpcCallError, TimeoutError):
            if config.failure_mode_deny:
                return RateLimitOutcome(STATUS_ON_ERROR)
            continue
        if answer.overall_code == rls_pb2.RateLimitResponse.OVER_LIMIT:
            headers = [RATE_LIMITED_HEADER, *_fields(answer.response_headers_to_add)]
            return RateLimitOutcome(429, headers, answer.raw_body)
        added += _fields(answer.request_headers_to_add)
        to_response += _fields(answer.response_headers_to_add)
    return RateLimitOutcome(request_headers=added, response_headers=to_response)


async def _ask(
    config: RateLimitFilter, chain: HttpChain, descriptors: list[list[tuple[str, str]]]
) -> rls_pb2.RateLimitResponse:
    endpoint = pick_endpoint(chain.clusters, config.cluster)
    if endpoint is None:
        raise GrpcCallError(f"cluster {config.cluster!r} has no endpoint")
    request = rls_pb2.RateLimitRequest(domain=config.domain)
    for entries in descriptors:
        descriptor = request.descriptors.add()
        for key, value in entries:
            descriptor.entries.add(key=key, value=value)
    loop = asyncio.get_running_loop()
    client = _CLIENTS.get(loop)
    if client is None:
        client = _CLIENTS[loop] = GrpcUnaryClient()
    message = request.SerializeToString()
    answer = await client.call(endpoint, config.cluster.encode(), SHOULD_RATE_LIMIT_PATH, message)
    if grpc_status(answer) != 0:
        raise GrpcCallError(f"ShouldRateLimit failed with gRPC status {grpc_status(answer)}")
    return rls_pb2.RateLimitResponse.FromString(answer.body)


def _entries(descriptor: Descriptor, exchange: Exchange) -> list[tuple[str, str]]:
    """The descriptor's entries for this request; empty when any action finds nothing."""
    entries = []
    variables: Activation | None = None
    for action in descriptor:
        if action.kind == "cel" and variables is None:
            variables = exchange_variables(exchange)
        value = _value(action, exchange, variables)
        if value is None:
            return []
        entries.append((action.key, value))
    return entries


def _value(
    action: DescriptorAction, exchange: Exchange, variables: Activation | None
) -> str | None:
    head = exchange.head
    kind = action.kind
    if kind == "generic":
        return action.value
    if kind == "header":
        found = head.header(action.header)
        return None if found is None else found.decode("latin-1")
    if kind == "remote_address":
        return exchange.conn.peer.decode("latin-1") or None
    if kind == "header_match":
        return action.value if all(test(head) for test in action.matches) else None
    assert action.program is not None and variables is not None
    try:
        result = action.program.evaluate(variables)
    except EvaluationError:
        return None
    if result is True:
        return "true"
    if isinstance(result, str | int | float | UInt) and result is not False:
        return str(result)
    return None


def _fields(options: object) -> Fields:
    found = []
    for header in options:  # type: ignore[attr-defined]
        value = header.raw_value or header.value.encode("latin-1")
        found.append((header.key.lower().encode("latin-1"), value))
    return found
