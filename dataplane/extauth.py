"""The ext_authz HTTP filter on the request path, as Envoy's: before a route's action runs,
ask each authorization service that applies to the route, in filter order.

While a check is out the request is held: its head waits, its body is kept (up to the
connection's buffer limit, then reading pauses) and replayed once the request is allowed.
A filter that forwards the body waits for ``max_body_bytes`` of it (or its end) first. An OK
answer may add or replace request headers for the upstream, and a gRPC service's OK answer
may carry ``dynamic_metadata``: that is ``extauthz`` to the CEL that runs later (several
services' merge, the later one winning a key). A denial is answered to the client as the
service wrote it; no usable answer is ``status_on_error`` (403), never a forwarded request,
unless the filter says ``failure_mode_allow``.

A service whose cluster has an UpstreamTlsContext is asked over TLS with the backends' client
settings; a failed handshake or certificate check is a failure to answer like any other.

The hold may run a first step before the services are asked, which can refuse the request:
``policy_auth`` uses it for a password being verified off the loop and the auth filters
after basic_auth. The body then waits for that step as it waits for the services.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from envoy.service.auth.v3 import attribute_context_pb2, external_auth_pb2
from google.protobuf import json_format

from cel import Value
from dataplane import ratelimit_global
from dataplane.config.extauth import ExtAuthzConfig
from dataplane.config.header_mutation import HeaderOp
from dataplane.config.route_table import RouteEntry
from dataplane.errors import AuthServiceError
from dataplane.extauth_client import AuthAnswer, GrpcAuthClient, grpc_status, http_check
from dataplane.http1.wire import CONTINUE_100
from dataplane.upstream.balancer import pick_endpoint

if TYPE_CHECKING:
    from dataplane.chain import HttpChain
    from dataplane.http1.exchange import Exchange

Fields = list[tuple[bytes, bytes]]
# Headers of a denial that describe the service's own connection, not the answer.
_NOT_RELAYED = frozenset(
    {b"content-length", b"transfer-encoding", b"connection", b"keep-alive", b"host", b"date"}
    | {b"server"}
)
# Envoy always sends these to an HTTP service, whatever allowed_headers says.
_HTTP_ALWAYS = frozenset({b"authorization", b"content-length"})
_GRPC_CLIENTS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, GrpcAuthClient] = (
    weakref.WeakKeyDictionary()
)


@dataclass(frozen=True, slots=True)
class Verdict:
    """Allowed (``status`` 0) with header changes for the upstream request and for the
    response, or a denial to answer."""

    status: int = 0
    headers: Fields | None = None
    body: bytes = b""
    set_headers: Fields | None = None
    remove_headers: tuple[bytes, ...] = ()
    # Appended rather than set (the rate limit service's).
    add_headers: Fields | None = None
    response_headers: Fields | None = None
    # An allowing gRPC service's ``dynamic_metadata``: CEL's ``extauthz``.
    metadata: dict[str, Value] | None = None


# Started when the hold's task runs (so a hold cancelled at once leaves no coroutine behind);
# its Verdict allows (status 0, changes ignored) or refuses.
FirstStep = Callable[[], Awaitable[Verdict]]


def applicable(filters: tuple[ExtAuthzConfig, ...], route: RouteEntry) -> list[ExtAuthzConfig]:
    overrides = dict(route.ext_authz)
    return [f for f in filters if overrides.get(f.name, not f.disabled)]


def intercept(
    exchange: Exchange, route: RouteEntry, chain: HttpChain, first: FirstStep | None = None
) -> bool:
    """Start the checks the route needs; True when the request is now held for them (always,
    given a ``first`` step, which must allow the request before any service is asked)."""
    filters = applicable(chain.settings.ext_authz, route)
    if first is None and not filters and not ratelimit_global.applies(route, chain):
        return False
    hold = exchange.auth = AuthHold(exchange, route, chain, filters)
    hold.launch(first)
    return True


class AuthHold:
    """One exchange's checks in progress, and the request body that arrived meanwhile."""

    __slots__ = (
        "body",
        "body_arrived",
        "body_size",
        "body_wanted",
        "chain",
        "ended",
        "exchange",
        "filters",
        "holding",
        "route",
        "task",
    )

    def __init__(
        self, exchange: Exchange, route: RouteEntry, chain: HttpChain, filters: list[ExtAuthzConfig]
    ) -> None:
        self.exchange = exchange
        self.route = route
        self.chain = chain
        self.filters = filters
        self.body: list[bytes] = []
        self.body_size = 0
        self.body_wanted = 0
        self.body_arrived: asyncio.Future[None] | None = None
        self.ended = False
        self.holding = True
        self.task: asyncio.Task[Verdict] | None = None

    def hold(self, data: bytes) -> None:
        self.body.append(data)
        self.body_size += len(data)
        conn = self.exchange.conn
        if self.body_size > conn.buffer_limit:
            conn.set_paused(conn.PAUSE_BODY, True)
        # One byte past the limit tells a cut body (or a 413) from one that fits exactly.
        if self.body_wanted and self.body_size > self.body_wanted:
            self._body_is_here()

    def request_ended(self) -> None:
        self.ended = True
        self._body_is_here()

    def _body_is_here(self) -> None:
        arrived = self.body_arrived
        if arrived is not None and not arrived.done():
            arrived.set_result(None)

    def launch(self, first: FirstStep | None) -> None:
        self.task = self.exchange.conn.loop.create_task(self._decide(first))
        self.task.add_done_callback(self._decided)

    def cancel(self) -> None:
        self.holding = False
        if self.task is not None and not self.task.done():
            self.task.cancel()

    async def _wanted_body(self) -> bytes:
        """The body so far, after waiting for as much of it as a service forwards."""
        if not self.filters:
            return b""
        wanted = max((f.max_body_bytes or 0 for f in self.filters), default=0)
        exchange = self.exchange
        more = exchange.body_kind and not exchange.done and not self.ended
        if wanted and more and self.body_size <= wanted:
            if exchange.expect_continue:
                # The client holds its body until told to send it; the service needs it.
                exchange.conn.write(CONTINUE_100)
                exchange.expect_continue = False
            self.body_wanted = wanted
            self.body_arrived = exchange.conn.loop.create_future()
            await self.body_arrived
            self.body_wanted = 0
        return b"".join(self.body)

    async def _decide(self, first: FirstStep | None) -> Verdict:
        if first is not None:
            verdict = await first()
            if verdict.status:
                return verdict
        body = await self._wanted_body()
        changes: list[Verdict] = []
        for config in self.filters:
            limit = config.max_body_bytes
            if limit and not config.allow_partial_body and len(body) > limit:
                return Verdict(413)
            try:
                verdict = await asyncio.wait_for(
                    _ask(config, self.exchange, self.chain, body), config.timeout
                )
            except (AuthServiceError, TimeoutError):
                if config.failure_mode_allow:
                    continue
                return Verdict(config.status_on_error)
            if verdict.status:
                return verdict
            changes.append(verdict)
        # The rate limit filters come after ext_authz in the chain.
        limited = await ratelimit_global.decide(self.exchange, self.route, self.chain)
        if limited.status:
            return Verdict(limited.status, limited.headers, limited.body)
        allowed = Verdict(
            add_headers=limited.request_headers, response_headers=limited.response_headers
        )
        return _merged([*changes, allowed])

    def _decided(self, task: asyncio.Task[Verdict]) -> None:
        exchange = self.exchange
        if task.cancelled():
            return
        error = task.exception()  # retrieved even when the answer is no longer wanted
        if exchange.finished or not self.holding:
            return
        self.holding = False
        verdict = Verdict(403) if error is not None else task.result()
        if verdict.status:
            exchange.local_reply(verdict.status, verdict.body, verdict.headers)
        else:
            _apply(exchange, verdict)
            exchange.dispatch(self.route, self.chain)
            # The body that arrived during the check goes on as if it had arrived now.
            for data in self.body:
                if exchange.finished:
                    break
                exchange.on_body(data)
        self.body = []
        if self.body_size > exchange.conn.buffer_limit:
            exchange.conn.set_paused(exchange.conn.PAUSE_BODY, False)
        if self.ended:
            exchange.on_request_end()


def _merged(changes: list[Verdict]) -> Verdict:
    set_headers: Fields = []
    removed: list[bytes] = []
    added: Fields = []
    to_response: Fields = []
    metadata: dict[str, Value] = {}
    for verdict in changes:
        set_headers += verdict.set_headers or []
        removed += verdict.remove_headers
        added += verdict.add_headers or []
        to_response += verdict.response_headers or []
        metadata.update(verdict.metadata or {})
    return Verdict(
        set_headers=set_headers,
        remove_headers=tuple(removed),
        add_headers=added,
        response_headers=to_response,
        metadata=metadata or None,
    )


def _apply(exchange: Exchange, verdict: Verdict) -> None:
    if verdict.metadata:
        exchange.extauthz = verdict.metadata
    if verdict.response_headers:
        # The path CORS and the local rate limit take: added to the forwarded response and to
        # the route's own replies.
        ops = tuple((HeaderOp.APPEND, k, v) for k, v in verdict.response_headers)
        exchange.cors_ops = exchange.cors_ops + ops
    drop = set(verdict.remove_headers) | {name for name, _ in verdict.set_headers or ()}
    if not drop and not verdict.add_headers:
        return
    head = exchange.head
    kept = [(name, value) for name, value in head.headers if name not in drop]
    head.headers = kept + list(verdict.set_headers or ()) + list(verdict.add_headers or ())


async def _ask(
    config: ExtAuthzConfig, exchange: Exchange, chain: HttpChain, body: bytes
) -> Verdict:
    endpoint = pick_endpoint(chain.clusters, config.cluster)
    if endpoint is None:
        raise AuthServiceError(f"cluster {config.cluster!r} has no endpoint")
    sent = body[: config.max_body_bytes] if config.max_body_bytes else b""
    if config.grpc:
        loop = asyncio.get_running_loop()
        client = _GRPC_CLIENTS.get(loop)
        if client is None:
            client = _GRPC_CLIENTS[loop] = GrpcAuthClient()
        message = check_request(config, exchange, sent)
        answer = await client.check(endpoint, config.cluster.encode(), message)
        return grpc_verdict(answer)
    request = http_check_request(config, exchange, sent)
    return http_verdict(config, await http_check(endpoint, request))


def check_request(config: ExtAuthzConfig, exchange: Exchange, body: bytes) -> bytes:
    """The CheckRequest for a gRPC service, serialized."""
    head = exchange.head
    headers: dict[str, str] = {}
    for name, value in head.headers:
        if config.allows_header(name):
            key = name.decode("latin-1")
            text = value.decode("latin-1")
            headers[key] = f"{headers[key]},{text}" if key in headers else text
    http = attribute_context_pb2.AttributeContext.HttpRequest(
        method=head.method.decode("latin-1"),
        path=exchange.target.decode("latin-1"),
        host=head.host.decode("latin-1"),
        scheme=head.scheme.decode("latin-1"),
        protocol=exchange.protocol_name,
        headers=headers,
        size=int(exchange.content_length) if exchange.content_length else -1,
    )
    if body:
        try:
            http.body = body.decode()
        except UnicodeDecodeError:
            http.raw_body = body
    request = external_auth_pb2.CheckRequest()
    request.attributes.request.http.CopyFrom(http)
    route = exchange.route
    if route is not None and route.ext_authz_context:
        extensions = dict(route.ext_authz_context).get(config.name, ())
        request.attributes.context_extensions.update(extensions)
    request.attributes.source.address.socket_address.address = exchange.conn.peer.decode()
    return bytes(request.SerializeToString())


def grpc_verdict(answer: AuthAnswer) -> Verdict:
    if grpc_status(answer) != 0:
        raise AuthServiceError(f"Check failed with gRPC status {grpc_status(answer)}")
    response = external_auth_pb2.CheckResponse.FromString(answer.body)
    if response.status.code == 0:
        ok = response.ok_response
        return Verdict(
            set_headers=[_header_option(option) for option in ok.headers],
            remove_headers=tuple(name.lower().encode() for name in ok.headers_to_remove),
            metadata=json_format.MessageToDict(response.dynamic_metadata) or None,
        )
    denied = response.denied_response
    return Verdict(
        status=denied.status.code or 403,
        headers=[_header_option(option) for option in denied.headers],
        body=denied.body.encode(),
    )


def _header_option(option: Any) -> tuple[bytes, bytes]:
    header = option.header
    value = header.raw_value or header.value.encode("latin-1")
    return header.key.lower().encode("latin-1"), value


def http_check_request(config: ExtAuthzConfig, exchange: Exchange, body: bytes) -> bytes:
    """The request to an HTTP service: the client's method and target under the path prefix,
    its host, and the headers the filter lets through."""
    head = exchange.head
    lines = [head.method + b" " + config.path_prefix + exchange.target + b" HTTP/1.1\r\n"]
    lines.append(b"host: " + (exchange.host_header or head.host) + b"\r\n")
    for name, value in head.headers:
        if name == b"content-length" or name == b"host":
            continue
        allowed = config.allowed_headers
        if name in _HTTP_ALWAYS or (allowed is not None and any(t(name) for t in allowed)):
            lines.append(name + b": " + value + b"\r\n")
    lines.append(b"content-length: %d\r\nconnection: close\r\n\r\n" % len(body))
    return b"".join(lines) + body


def http_verdict(config: ExtAuthzConfig, answer: AuthAnswer) -> Verdict:
    # Envoy allows on 200 exactly; any other answer, even another 2xx, is a denial.
    if answer.status == 200:
        upstream = [
            (name, value)
            for name, value in answer.headers
            if any(test(name) for test in config.upstream_headers)
        ]
        return Verdict(set_headers=upstream)
    relayed = [(name, value) for name, value in answer.headers if name not in _NOT_RELAYED]
    return Verdict(status=answer.status, headers=relayed, body=answer.body)
