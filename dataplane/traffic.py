"""Enforce a route's AgentgatewayPolicy traffic filters when its request head is complete, in
Envoy's filter order: local rate limit, then CSRF, then the buffer's size limit.

Envoy's buffer filter holds the whole body before forwarding; the proxy streams it and counts:
a Content-Length above the limit answers 413 at once, a body that grows past it (chunked, or
HTTP/2 without a length) answers 413 if no response has begun, else the exchange is reset."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dataplane import csrf
from dataplane.config.header_mutation import HeaderOp
from dataplane.config.traffic import RouteTraffic
from dataplane.ratelimit import RATE_LIMITED_BODY

if TYPE_CHECKING:
    from dataplane.http1.exchange import Exchange

PAYLOAD_TOO_LARGE = b"Payload Too Large"


def refuses(exchange: Exchange, traffic: RouteTraffic) -> bool:
    """True when the request was answered here (429, 403 or 413)."""
    bucket = traffic.rate_limit
    if bucket is not None:
        allowed = bucket.take()
        ops = tuple((HeaderOp.OVERWRITE_OR_ADD, k, v) for k, v in bucket.headers())
        exchange.cors_ops = exchange.cors_ops + ops
        if not allowed:
            exchange.local_reply(429, RATE_LIMITED_BODY, None, exchange.cors_ops)
            return True
    if traffic.csrf is not None and not csrf.is_allowed(traffic.csrf, exchange.head):
        exchange.local_reply(403, csrf.INVALID_ORIGIN)
        return True
    limit = traffic.buffer_max_bytes
    if limit is not None:
        length = exchange.content_length
        if length is not None and int(length) > limit:
            exchange.local_reply(413, PAYLOAD_TOO_LARGE, close=not exchange.done)
            return True
        exchange.body_limit = limit
    return False


def body_too_large(exchange: Exchange, size: int) -> bool:
    """Count ``size`` more body bytes; True (after answering 413) once past the limit."""
    exchange.body_seen += size
    if exchange.body_seen <= exchange.body_limit:
        return False
    exchange.local_reply(413, PAYLOAD_TOO_LARGE, close=True)
    return True
