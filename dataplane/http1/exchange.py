"""One request/response exchange: routing, the upstream attempt(s), and the relayed response.

Driven entirely by callbacks: the downstream parser calls ``start``/``on_body``/``on_request_end``,
the pool calls ``on_upstream_ready``/``on_connect_failed``, the upstream connection calls
``on_response_*``. This module holds the hot path; retries, timeouts and failures are in
``recovery``.

Routing, upstream attempts and the request side are protocol-neutral: the upstream may be an
HTTP/1.1 connection or an HTTP/2 stream (h2c clusters), and ``conn`` is any ``Downstream``.
The response side written here is HTTP/1.1; ``Http2Exchange`` overrides it for HTTP/2 clients.
"""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING, cast

from dataplane import cors, extauth, policy_auth, retry_conditions, traffic, transformation
from dataplane.access_line import finished_request
from dataplane.config.header_mutation import HeaderOps, apply_ops
from dataplane.config.policy_auth import TRANSFORMATION_FILTER as TRANSFORMS
from dataplane.config.route_table import (
    ForwardAction,
    RedirectAction,
    RouteEntry,
)
from dataplane.http1 import local_reply as replies
from dataplane.http1 import recovery
from dataplane.http1.exchange_state import BodyKind, Downstream, ExchangeState, Fields
from dataplane.http1.forwarding import build_upstream_fields, build_upstream_head
from dataplane.http1.wire import (
    CHUNKED_END,
    CONTINUE_100,
    chunk,
)
from dataplane.request import RequestHead
from dataplane.request_metrics import count_labelled_request
from dataplane.session import sticky_pick
from dataplane.tracing import begin_trace, finish_span
from dataplane.upstream.connection import UpstreamConnection
from dataplane.upstream.mirror import MirrorRequest
from dataplane.upstream.pool import EndpointPool

if TYPE_CHECKING:
    from dataplane.chain import HttpChain
    from dataplane.http2.upstream import UpstreamStream

# Route timeouts at least this long are checked by the proxy's ticker instead of a loop timer.
COARSE_TIMEOUT = 2.0


class Exchange(ExchangeState):
    def __init__(
        self, conn: Downstream, head: RequestHead, target: bytes, host_header: bytes
    ) -> None:
        self.conn = conn
        self.head = head
        # The request target as received (path and query), forwarded unless rewritten.
        self.target = target
        self.host_header = host_header

    @property
    def is_head(self) -> bool:
        return self.head.method == b"HEAD"

    @property
    def protocol_name(self) -> str:
        raise NotImplementedError

    # Routing

    def start(self, chain: HttpChain) -> None:
        self.started = True
        self.chain = chain
        if self.rejection:
            self.local_reply(self.rejection, b"", close=True)
            return
        if chain.settings.tracing is not None:
            self.trace = begin_trace(
                chain.settings.tracing, self.head, self.protocol_name, self.conn
            )
        routes = chain.routes
        route = None
        if routes is not None:
            head = self.head
            vhost = routes.exact.get(head.host) or routes.virtual_host(head.host)
            if vhost is not None:
                route = vhost.select(head)
        if route is None:
            self.local_reply(404, b"")
            return
        self.route = route
        action = route.action
        if type(action) is ForwardAction:
            # Picked before any policy runs: their CEL sees ``backend``.
            targets = action.targets
            self.backend = targets[0] if len(targets) == 1 else action.pick()
        if route.cors is not None and chain.settings.cors:
            preflight, self.cors_ops = cors.evaluate(route.cors, self.head)
            if preflight is not None:
                self.local_reply(200, b"", preflight)
                return
        if route.auth is not None and policy_auth.run(self, route, chain):
            return  # refused, or held while a password is hashed off the loop
        held = chain.settings.ext_authz or route.global_rate_limits
        if held and extauth.intercept(self, route, chain):
            return  # ``dispatch`` runs once the authorization services allow the request
        self.dispatch(route, chain)

    def dispatch(self, route: RouteEntry, chain: HttpChain) -> None:
        """Run the route's action."""
        auth = route.auth
        if (
            auth is not None
            and (auth.request or auth.response)
            and TRANSFORMS in chain.settings.auth_filters
        ):
            transformation.begin(self, auth)
        if route.traffic is not None and traffic.refuses(self, route.traffic):
            return  # the traffic filters run after ext_authz, as in the connection manager
        action = route.action
        if type(action) is ForwardAction:
            self._forward(route, action, chain)
        elif route.fault is not None and route.fault.fires():
            self.local_reply(route.fault.status, replies.FAULT_ABORT)
        elif type(action) is RedirectAction:
            location = replies.redirect_location(action, route, self.head, self.host_header)
            ops = route.response_ops + self.cors_ops
            self.local_reply(action.status, b"", [(b"location", location)], ops)
        else:
            ops = route.response_ops + self.cors_ops
            self.local_reply(action.status, action.body, None, ops)  # type: ignore[union-attr]

    def _forward(self, route: RouteEntry, action: ForwardAction, chain: HttpChain) -> None:
        backend = self.backend
        assert backend is not None  # picked by ``start``
        self.cluster = backend.cluster
        if self.cors_ops:
            ops = backend.response_ops + self.cors_ops
            backend = self.backend = dataclasses.replace(backend, response_ops=ops)
        if backend.fault is not None and backend.fault.fires():
            self.local_reply(backend.fault.status, replies.FAULT_ABORT)
            return
        balancer = chain.clusters.get(backend.cluster)
        if balancer is None:
            self.local_reply(action.cluster_not_found_status, b"")
            return
        if self.upgrade is not None:
            allowed = action.websocket if action.websocket is not None else chain.settings.websocket
            if not allowed or self.upgrade.lower() != b"websocket":
                self.local_reply(403, b"", close=True)
                return
        self.action = action
        self.balancer = balancer
        if balancer.http2:
            self.upstream_h2 = True
            self.upstream_fields = build_upstream_fields(self, route, action, backend, chain)
        else:
            self.upstream_head = build_upstream_head(self, route, action, backend, chain)
        if self.body_kind:
            if self.expect_continue and not self.done:
                self.conn.write(CONTINUE_100)
            if action.retry is not None:
                self.replay = list(self.pending or ())
                self.replay_size = self.pending_size
        retry = action.retry
        if retry is not None and retry.conditions is not None:
            retry = retry_conditions.admitted(self, retry)
        self.retry = retry
        if action.mirrors:
            self._plan_mirrors(action, chain)
        if self.done:
            if action.timeout:
                self._arm_route_timeout(action.timeout)
            self.try_upstream()
        elif self.body_kind:
            self.try_upstream()
        # Otherwise the request ends right after its head, in this same parser pass:
        # on_request_end connects, and the head goes out in one direct write.

    def _plan_mirrors(self, action: ForwardAction, chain: HttpChain) -> None:
        mirrors = self.mirrors = []
        for policy in action.mirrors:
            balancer = chain.clusters.get(policy.cluster)
            if balancer is not None and policy.fires():
                mirrors.append(balancer)
        if mirrors and self.body_kind is not BodyKind.CHUNKED:
            # Chunked bodies would need re-framing for the copy; those are not mirrored.
            self.mirror_body = list(self.pending or ())
            if self.done:
                self._send_mirrors()

    def _send_mirrors(self) -> None:
        body = self.mirror_body
        head = self.mirror_head
        if body is None or head is None:
            return
        payload = b"".join(body)
        for balancer in self.mirrors or ():
            MirrorRequest.send(balancer, head, payload)
        self.mirror_body = None

    # Upstream attempts

    def try_upstream(self) -> None:
        balancer = self.balancer
        assert balancer is not None
        self.attempts += 1
        if self.attempts == 1 and balancer.budget is not None:
            balancer.budget.record_request()
        session = self.route.session if self.route is not None else None
        pool = balancer.pick() if session is None else sticky_pick(self, balancer, session)
        if pool is None:
            self.local_reply(503, replies.NO_HEALTHY_UPSTREAM)
            return
        if type(pool) is EndpointPool:
            idle = pool.idle
            connection = idle.pop() if idle else None
            if connection is not None and not connection.closed:
                connection.reuses += 1
                self._attach(connection)
            elif connection is not None and (connection := pool.acquire()) is not None:
                self._attach(connection)
            elif pool.request(self):
                self.connecting = pool
            else:
                self.local_reply(503, replies.OVERFLOW)
                return
        else:
            # A stream on a ready connection is handed over at once, inside ``request``.
            self.connecting = pool
            if not pool.request(self):
                self.connecting = None
                self.local_reply(503, replies.OVERFLOW)
                return
        retry = self.retry
        if retry is not None and retry.per_try_timeout and not self.finished:
            self.try_timer = self.conn.loop.call_later(
                retry.per_try_timeout, recovery.try_timed_out, self
            )

    def on_upstream_ready(self, connection: UpstreamConnection | UpstreamStream) -> None:
        if self.finished or self.connecting is not connection.pool:
            connection.release()
            return
        self.connecting = None
        self._attach(connection)

    def on_connect_failed(self) -> None:
        recovery.connect_failed(self)

    def _attach(self, connection: UpstreamConnection | UpstreamStream) -> None:
        self.upstream = connection
        connection.attach(self, self.head.method == b"HEAD")
        body = self.replay if self.sent_any and self.replay is not None else self.pending
        if type(connection) is UpstreamConnection:
            data = self.upstream_head + b"".join(body) if body else self.upstream_head
            if self.done:
                connection.write_now(data)
            else:
                connection.write(data)
        else:
            assert self.upstream_fields is not None
            cast("UpstreamStream", connection).send_request(
                self.upstream_fields, body or (), self.done, self.request_trailers
            )
        self.sent_any = True
        if self.pending is not None:
            self.pending = None
            self.pending_size = 0
            self.conn.set_paused(self.conn.PAUSE_BODY, False)

    # Request body from the client

    def on_body(self, data: bytes) -> None:
        if self.discarding or self.body_replaced:
            return
        if self.auth is not None and self.auth.holding:
            self.auth.hold(data)
            return
        if self.body_limit >= 0 and traffic.body_too_large(self, len(data)):
            return
        if self.body_kind is BodyKind.CHUNKED and not self.upstream_h2:
            data = chunk(data)
        self._send_body(data)

    def on_request_trailers(self, trailers: Fields) -> None:
        """Kept for an HTTP/2 upstream; HTTP/1.1 upstreams get none (Envoy's default)."""
        self.request_trailers = trailers

    def _send_body(self, framed: bytes) -> None:
        if self.mirror_body is not None:
            self.mirror_body.append(framed)
        replay = self.replay
        if replay is not None:
            replay.append(framed)
            self.replay_size += len(framed)
            if self.replay_size > recovery.RETRY_BUFFER_LIMIT:
                self.replay = None
        upstream = self.upstream
        if upstream is not None:
            upstream.write(framed)
            return
        if self.pending is None:
            self.pending = [framed]
        else:
            self.pending.append(framed)
        self.pending_size += len(framed)
        if self.pending_size > self.conn.buffer_limit:
            self.conn.set_paused(self.conn.PAUSE_BODY, True)

    def on_request_end(self) -> None:
        if self.auth is not None and self.auth.holding:
            self.auth.request_ended()
            return
        self.done = True
        if self.discarding:
            self._finish(False)
            return
        if self.upstream_h2:
            upstream = self.upstream
            if upstream is not None and type(upstream) is not UpstreamConnection:
                cast("UpstreamStream", upstream).end_request(self.request_trailers)
        elif self.body_kind is BodyKind.CHUNKED:
            self._send_body(CHUNKED_END)
        if not self.started or self.finished:
            return
        if self.mirror_body is not None:
            self._send_mirrors()
        action = self.action
        if action is None:
            return
        if action.timeout and not self.deadline and not self.route_timer:
            self._arm_route_timeout(action.timeout)
        if not self.attempts:
            self.try_upstream()

    def _arm_route_timeout(self, timeout: float) -> None:
        if timeout >= COARSE_TIMEOUT:
            self.deadline = self.conn.clock.now + timeout
        else:
            self.route_timer = self.conn.loop.call_later(timeout, self.on_route_timeout)

    def on_route_timeout(self) -> None:
        recovery.route_timed_out(self)

    # Response from the upstream

    def _retried(self, status: int, response: UpstreamConnection | UpstreamStream) -> bool:
        """Whether this response is dropped for a retry (the retry is then scheduled)."""
        if self.try_timer is not None:
            self.try_timer.cancel()
            self.try_timer = None
        retry = self.retry
        if (
            retry is not None
            and (
                retry.retries_status(status)
                or (
                    retry.conditions is not None
                    and retry_conditions.retries_response(self, retry.conditions, status, response)
                )
            )
            and recovery.can_retry(self)
        ):
            self.upstream = None
            response.reset()
            recovery.schedule_retry(self)
            return True
        return False

    # The response: written by the client side's protocol (``Http1Exchange``, ``Http2Exchange``)

    def on_response_head(self, status: int, response: UpstreamConnection | UpstreamStream) -> None:
        raise NotImplementedError

    def on_response_body(self, data: bytes) -> None:
        raise NotImplementedError

    def on_response_trailers(self, trailers: Fields) -> None:
        raise NotImplementedError

    def on_response_end(self) -> None:
        raise NotImplementedError

    def end_at_upstream_close(self) -> None:
        """The upstream closed a response delimited by its connection's end: that is its end."""
        raise NotImplementedError

    def on_tunnel_data(self, data: bytes) -> None:
        raise NotImplementedError

    def on_client_tunnel_data(self, data: bytes) -> None:
        raise NotImplementedError

    def _release_upstream(self) -> None:
        upstream = self.upstream
        self.upstream = None
        if upstream is not None:
            if not self.done:
                upstream.keep_alive = False
            upstream.release()

    def on_upstream_lost(self, connection: UpstreamConnection | UpstreamStream) -> None:
        recovery.upstream_lost(self, connection)

    def on_upstream_writable(self, writable: bool) -> None:
        self.conn.set_paused(self.conn.PAUSE_UPSTREAM, not writable)

    def on_downstream_writable(self, writable: bool) -> None:
        if self.upstream is not None:
            self.upstream.pause_reading(not writable)

    def upstream_activity(self) -> float:
        upstream = self.upstream
        return upstream.last_active if upstream is not None else 0.0

    # Endings

    def upstream_response_headers(self, status: int, headers: Fields) -> Fields | None:
        """The upstream response's headers after the backend's header operations and the
        response transformation; None when the transformation answered itself."""
        assert self.backend is not None
        if self.backend.response_ops:
            headers = list(headers)
            apply_ops(self.backend.response_ops, headers)
        if self.response_transform is not None:
            return transformation.response_headers(self, status, headers)
        return headers

    def local_reply(
        self,
        status: int,
        body: bytes,
        extra: list[tuple[bytes, bytes]] | None = None,
        ops: HeaderOps = (),
        *,
        close: bool = False,
    ) -> None:
        """Answer from the proxy itself (Envoy's local reply) unless a response has begun."""
        if self.response_started:
            self.conn.abort()
            self._finish(True)
            return
        recovery.drop_upstream(self)
        recovery.cancel_timers(self)
        if self.response_transform is not None:
            body, ops = transformation.local_reply_changes(self, status, body, extra, ops)
        self._write_local_reply(status, body, extra, ops, close)

    def _write_local_reply(
        self,
        status: int,
        body: bytes,
        extra: list[tuple[bytes, bytes]] | None,
        ops: HeaderOps,
        close: bool,
    ) -> None:
        raise NotImplementedError

    def on_stream_idle(self) -> None:
        recovery.stream_idle(self)

    def on_downstream_lost(self) -> None:
        """The client went away; nothing more will be written to it."""
        if not self.finished:
            recovery.drop_upstream(self)
            self._finish(True)

    def _finish(self, close: bool) -> None:
        if self.finished:
            return
        self.finished = True
        if self.auth is not None:
            self.auth.cancel()
        if self.route_timer is not None or self.try_timer is not None or self.backoff_timer:
            recovery.cancel_timers(self)
        route = self.route
        stats = self.conn.stats
        stats.requests[(route.name if route else "", self.cluster, self.status)] += 1
        if self.cluster and self.started_at:
            stats.observe_latency(self.cluster, time.time() - self.started_at)
        chain = self.chain
        if self.trace is not None and chain is not None:
            finish_span(self, chain)
        if chain is not None and chain.access_log is not None:
            recovery.log_access(self, chain.access_log)
        metrics = chain.settings.request_metrics if chain is not None else None
        if chain is not None and metrics is not None:
            listener = chain.settings.stat_prefix
            count_labelled_request(stats, listener, metrics, finished_request(self))
        self.conn.exchange_finished(self, close)
