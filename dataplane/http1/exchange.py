"""One request/response exchange: routing, the upstream attempt(s), and the relayed response.

Driven entirely by callbacks: the downstream parser calls ``start``/``on_body``/``on_request_end``,
the pool calls ``on_upstream_ready``/``on_connect_failed``, the upstream connection calls
``on_response_*``. This module holds the hot path; retries, timeouts and failures are in
``recovery``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dataplane.config.header_mutation import HeaderOps, mutated_lines
from dataplane.config.listener import ServerHeader
from dataplane.config.route_table import (
    ForwardAction,
    RedirectAction,
    RouteEntry,
)
from dataplane.http1 import local_reply as replies
from dataplane.http1 import recovery
from dataplane.http1.exchange_state import BodyKind, ExchangeState, Framing
from dataplane.http1.forwarding import build_upstream_head
from dataplane.http1.wire import (
    _STATUS_LINES,
    CHUNKED_END,
    CONTINUE_100,
    CRLF,
    DATE,
    chunk,
    status_line,
)
from dataplane.request import RequestHead
from dataplane.upstream.connection import UpstreamConnection
from dataplane.upstream.mirror import MirrorRequest, mirror_payload

if TYPE_CHECKING:
    from dataplane.chain import HttpChain
    from dataplane.http1.downstream import DownstreamConnection

# Route timeouts at least this long are checked by the proxy's ticker instead of a loop timer.
COARSE_TIMEOUT = 2.0


class Exchange(ExchangeState):
    def __init__(
        self, conn: DownstreamConnection, head: RequestHead, target: bytes, host_header: bytes
    ) -> None:
        self.conn = conn
        self.head = head
        # The request target as received (path and query), forwarded unless rewritten.
        self.target = target
        self.host_header = host_header

    @property
    def is_head(self) -> bool:
        return self.head.method == b"HEAD"

    # Routing

    def start(self, chain: HttpChain) -> None:
        self.started = True
        self.chain = chain
        if self.rejection:
            self.local_reply(self.rejection, b"", close=True)
            return
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
            self._forward(route, action, chain)
        elif route.fault is not None and route.fault.fires():
            self.local_reply(route.fault.status, replies.FAULT_ABORT)
        elif type(action) is RedirectAction:
            location = replies.redirect_location(action, route, self.head, self.host_header)
            self.local_reply(action.status, b"", [(b"location", location)], route.response_ops)
        else:
            self.local_reply(action.status, action.body, None, route.response_ops)  # type: ignore[union-attr]

    def _forward(self, route: RouteEntry, action: ForwardAction, chain: HttpChain) -> None:
        targets = action.targets
        backend = self.backend = targets[0] if len(targets) == 1 else action.pick()
        self.cluster = backend.cluster
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
        self.upstream_head = build_upstream_head(self, route, action, backend, chain)
        if self.body_kind:
            if self.expect_continue and not self.done:
                self.conn.write(CONTINUE_100)
            if action.retry is not None:
                self.replay = list(self.pending or ())
                self.replay_size = self.pending_size
        self.retry = action.retry
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
        if body is None:
            return
        payload = mirror_payload(self.mirror_lines, self.upstream_host, b"".join(body))
        for balancer in self.mirrors or ():
            MirrorRequest.send(balancer, payload)
        self.mirror_body = None

    # Upstream attempts

    def try_upstream(self) -> None:
        balancer = self.balancer
        assert balancer is not None
        self.attempts += 1
        pool = balancer.pick()
        if pool is None:
            self.local_reply(503, replies.NO_HEALTHY_UPSTREAM)
            return
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
        retry = self.retry
        if retry is not None and retry.per_try_timeout and not self.finished:
            self.try_timer = self.conn.loop.call_later(
                retry.per_try_timeout, recovery.try_timed_out, self
            )

    def on_upstream_ready(self, connection: UpstreamConnection) -> None:
        if self.finished or self.connecting is not connection.pool:
            connection.pool.release(connection)
            return
        self.connecting = None
        self._attach(connection)

    def on_connect_failed(self) -> None:
        recovery.connect_failed(self)

    def _attach(self, connection: UpstreamConnection) -> None:
        self.upstream = connection
        connection.attach(self, self.head.method == b"HEAD")
        body = self.replay if self.sent_any and self.replay is not None else self.pending
        data = self.upstream_head + b"".join(body) if body else self.upstream_head
        if self.done:
            connection.write_now(data)
        else:
            connection.write(data)
        self.sent_any = True
        if self.pending is not None:
            self.pending = None
            self.pending_size = 0
            self.conn.set_paused(self.conn.PAUSE_BODY, False)

    # Request body from the client

    def on_body(self, data: bytes) -> None:
        if self.discarding:
            return
        self._send_body(chunk(data) if self.body_kind is BodyKind.CHUNKED else data)

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
        self.done = True
        if self.discarding:
            self._finish(False)
            return
        if self.body_kind is BodyKind.CHUNKED:
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

    def on_response_head(self, status: int, response: UpstreamConnection) -> None:
        if self.try_timer is not None:
            self.try_timer.cancel()
            self.try_timer = None
        retry = self.retry
        if retry is not None and retry.retries_status(status) and recovery.can_retry(self):
            self.upstream = None
            response.reset()
            recovery.schedule_retry(self)
            return
        self.status = status
        chain = self.chain
        assert chain is not None and self.backend is not None
        lines = response.headers
        if self.backend.response_ops:
            lines = mutated_lines(self.backend.response_ops, lines)
        parts = [_STATUS_LINES.get(status) or status_line(status), *lines]
        server_mode = chain.settings.server_header
        if server_mode is ServerHeader.OVERWRITE or response.server is None:
            if server_mode is not ServerHeader.PASS_THROUGH:
                parts.append(chain.server_line)
        else:
            parts.append(b"server: " + response.server + CRLF)
        parts.append(DATE.line)
        self._frame_response(status, response, parts)
        if not self.keep_alive or self.conn.draining:
            self.keep_alive = False
            parts.append(b"connection: close\r\n")
        parts.append(CRLF)
        self.response_started = True
        self.conn.write(b"".join(parts))
        if self.framing is Framing.TUNNEL:
            self._open_tunnel()

    def _frame_response(
        self, status: int, response: UpstreamConnection, parts: list[bytes]
    ) -> None:
        content_length = response.content_length
        if status == 101:
            upgrade = response.upgrade or b"websocket"
            parts.append(b"connection: upgrade\r\nupgrade: " + upgrade + CRLF)
            self.framing = Framing.TUNNEL
        elif status == 204 or status == 304 or self.head.method == b"HEAD":
            if content_length is not None and status != 204:
                parts.append(b"content-length: " + content_length + CRLF)
            self.framing = Framing.NONE
        elif content_length is not None:
            parts.append(b"content-length: " + content_length + CRLF)
            self.framing = Framing.LENGTH
        else:
            self.until_close = not response.chunked
            if self.version_10:
                self.framing = Framing.CLOSE
                self.keep_alive = False
            else:
                parts.append(b"transfer-encoding: chunked\r\n")
                self.framing = Framing.CHUNKED

    def on_response_body(self, data: bytes) -> None:
        framing = self.framing
        if framing is Framing.LENGTH:
            self.conn.write(data)
        elif framing is Framing.CHUNKED:
            self.conn.write(chunk(data))
        elif framing is not Framing.NONE:
            self.conn.write(data)

    def on_response_end(self) -> None:
        framing = self.framing
        if framing is Framing.TUNNEL:
            return
        if framing is Framing.CHUNKED:
            self.conn.write(CHUNKED_END)
        upstream = self.upstream
        self.upstream = None
        if upstream is not None:
            if not self.done:
                upstream.keep_alive = False
            upstream.pool.release(upstream)
        self._finish(not self.done or not self.keep_alive)

    def on_upstream_lost(self, connection: UpstreamConnection) -> None:
        recovery.upstream_lost(self, connection)

    def on_upstream_writable(self, writable: bool) -> None:
        self.conn.set_paused(self.conn.PAUSE_UPSTREAM, not writable)

    def on_downstream_writable(self, writable: bool) -> None:
        if self.upstream is not None:
            self.upstream.pause_reading(not writable)

    def upstream_activity(self) -> float:
        upstream = self.upstream
        return upstream.last_active if upstream is not None else 0.0

    # WebSocket and other upgrades: raw bytes both ways after a 101

    def _open_tunnel(self) -> None:
        recovery.cancel_timers(self)
        self.conn.start_tunnel(self)
        upstream = self.upstream
        if upstream is not None and self.early_tunnel:
            upstream.write(b"".join(self.early_tunnel))
        self.early_tunnel = None

    def on_tunnel_data(self, data: bytes) -> None:
        self.conn.write(data)

    def on_client_tunnel_data(self, data: bytes) -> None:
        if self.framing is Framing.TUNNEL and self.upstream is not None:
            self.upstream.write(data)
        elif self.early_tunnel is None:
            self.early_tunnel = [data]
        else:
            self.early_tunnel.append(data)

    # Endings

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
        close = (
            close
            or not self.keep_alive
            or self.conn.draining
            or (not self.done and self.expect_continue)
        )
        server = self.chain.settings.server_name if self.chain is not None else b"agw"
        self.status = status
        self.response_started = True
        reply = replies.encode_local_reply(
            status, body, server, close=close, extra=extra, ops=ops, head_only=self.is_head
        )
        self.conn.write(reply)
        if self.done or close:
            self._finish(close)
        else:
            self.discarding = True

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
        if self.route_timer is not None or self.try_timer is not None or self.backoff_timer:
            recovery.cancel_timers(self)
        route = self.route
        self.conn.stats.requests[(route.name if route else "", self.cluster, self.status)] += 1
        chain = self.chain
        if chain is not None and chain.access_log is not None:
            recovery.log_access(self, chain.access_log)
        self.conn.exchange_finished(self, close)
