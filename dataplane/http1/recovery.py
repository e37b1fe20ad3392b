"""What an exchange does when things go wrong: retries, timeouts, lost connections.

Kept apart from ``exchange`` because none of it runs on a healthy request. Semantics follow
Envoy's router: retries only before the response has begun, with fully jittered exponential
backoff; a route timeout answers 504 before the response starts and resets after.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dataplane.access_line import default_attributes, shape_line
from dataplane.access_log import AccessLog
from dataplane.http1 import local_reply as replies
from dataplane.http1.exchange_state import Framing

if TYPE_CHECKING:
    from dataplane.http1.exchange import Exchange
    from dataplane.http2.upstream import UpstreamStream
    from dataplane.upstream.connection import UpstreamConnection

# Request body kept for retries; beyond it the request is no longer retried.
RETRY_BUFFER_LIMIT = 64 * 1024


def can_retry(exchange: Exchange) -> bool:
    retry = exchange.retry
    if retry is None or exchange.retries >= retry.num_retries:
        return False
    # The body must still be at hand: never sent, kept for replay, or there is none.
    if exchange.sent_any and exchange.replay is None and exchange.body_kind:
        return False
    # Last: an admitted retry is counted against the cluster's budget.
    budget = exchange.balancer.budget if exchange.balancer is not None else None
    return budget is None or budget.admit_retry()


def schedule_retry(exchange: Exchange) -> None:
    retry = exchange.retry
    assert retry is not None
    exchange.retries += 1
    exchange.conn.stats.upstream_retries += 1
    if exchange.try_timer is not None:
        exchange.try_timer.cancel()
        exchange.try_timer = None
    delay = retry.backoff(exchange.retries)
    exchange.backoff_timer = exchange.conn.loop.call_later(delay, _retry_now, exchange)


def _retry_now(exchange: Exchange) -> None:
    exchange.backoff_timer = None
    if not exchange.finished:
        exchange.try_upstream()


def connect_failed(exchange: Exchange) -> None:
    if exchange.finished or exchange.connecting is None:
        return
    exchange.connecting = None
    exchange.conn.stats.upstream_connect_failures += 1
    retry = exchange.retry
    if retry is not None and retry.retries_connect_failure() and can_retry(exchange):
        schedule_retry(exchange)
    else:
        exchange.local_reply(503, replies.CONNECT_FAILURE)


def upstream_lost(exchange: Exchange, connection: UpstreamConnection | UpstreamStream) -> None:
    """The upstream connection closed before the exchange was done with it."""
    if connection is not exchange.upstream or exchange.finished:
        return
    exchange.upstream = None
    if exchange.framing is Framing.TUNNEL:
        exchange._finish(True)
    elif exchange.response_started:
        if exchange.until_close:
            exchange.end_at_upstream_close()
        else:
            exchange.conn.abort()
            exchange._finish(True)
    elif _never_reached_server(exchange, connection):
        exchange.attempts += 1
        exchange.try_upstream()
    else:
        retry = exchange.retry
        if retry is not None and retry.retries_reset() and can_retry(exchange):
            schedule_retry(exchange)
        else:
            exchange.local_reply(503, replies.UPSTREAM_RESET)


def _never_reached_server(
    exchange: Exchange, connection: UpstreamConnection | UpstreamStream
) -> bool:
    """A request that reached no application (a kept-alive connection the server had closed,
    an HTTP/2 stream refused or beyond a GOAWAY) is tried once more on another connection."""
    replayable = exchange.replay is not None or not exchange.body_kind
    return connection.unprocessed() and replayable and exchange.attempts < 2 + exchange.retries


def try_timed_out(exchange: Exchange) -> None:
    exchange.try_timer = None
    if exchange.finished or exchange.response_started:
        return
    drop_upstream(exchange)
    retry = exchange.retry
    if retry is not None and retry.retries_reset() and can_retry(exchange):
        schedule_retry(exchange)
    else:
        exchange.local_reply(504, replies.UPSTREAM_TIMEOUT)


def route_timed_out(exchange: Exchange) -> None:
    exchange.route_timer = None
    exchange.deadline = 0.0
    if exchange.finished:
        return
    if exchange.response_started:
        drop_upstream(exchange)
        exchange.conn.abort()
        exchange._finish(True)
    else:
        exchange.local_reply(504, replies.UPSTREAM_TIMEOUT)


def stream_idle(exchange: Exchange) -> None:
    """No bytes either way for the stream idle timeout."""
    if exchange.response_started:
        drop_upstream(exchange)
        exchange.conn.abort()
        exchange._finish(True)
    else:
        exchange.local_reply(504 if exchange.done else 408, b"stream timeout", close=True)


def drop_upstream(exchange: Exchange) -> None:
    upstream = exchange.upstream
    if upstream is not None:
        exchange.upstream = None
        upstream.reset()
    if exchange.connecting is not None:
        exchange.connecting.cancel(exchange)
        exchange.connecting = None


def cancel_timers(exchange: Exchange) -> None:
    for timer in (exchange.route_timer, exchange.try_timer, exchange.backoff_timer):
        if timer is not None:
            timer.cancel()
    exchange.route_timer = exchange.try_timer = exchange.backoff_timer = None
    exchange.deadline = 0.0


def log_access(exchange: Exchange, access_log: AccessLog) -> None:
    fields = default_attributes(exchange)
    chain = exchange.chain
    shape = chain.settings.access_log_shape if chain is not None else None
    if shape is not None:
        shaped = shape_line(shape, fields, exchange)
        if shaped is None:
            return
        fields = shaped
    access_log.log(**fields)
