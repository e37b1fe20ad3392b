"""The request head sent upstream: rewrites, x-forwarded-*, x-request-id, header mutations.

``forwarded_request`` works out what goes upstream whatever the protocol; the two builders
serialize it as an HTTP/1.1 head or as HTTP/2 header fields (h2c clusters).
"""

from __future__ import annotations

import os
import random
from typing import TYPE_CHECKING

from dataplane.config.header_mutation import apply_ops
from dataplane.config.route_table import ClusterTarget, ForwardAction, RouteEntry
from dataplane.http1.exchange_state import BodyKind, Fields
from dataplane.http1.wire import CRLF
from dataplane.tracing import propagate
from dataplane.upstream.mirror import MirrorHead

if TYPE_CHECKING:
    from dataplane.chain import HttpChain
    from dataplane.http1.exchange import Exchange

_ids = random.Random()
# Forked workers would otherwise share the generator's state and emit the same ids.
os.register_at_fork(after_in_child=_ids.seed)
_getrandbits = _ids.getrandbits


def new_request_id() -> bytes:
    """A random UUID-shaped id from an in-process generator (``uuid4`` costs a system call)."""
    digits = b"%032x" % _getrandbits(128)
    return b"%b-%b-%b-%b-%b" % (digits[:8], digits[8:12], digits[12:16], digits[16:20], digits[20:])


def forwarded_request(
    exchange: Exchange,
    route: RouteEntry,
    action: ForwardAction,
    backend: ClusterTarget,
    chain: HttpChain,
) -> tuple[bytes, bytes, Fields]:
    """The request target, the host and the headers (mutated in place) for the upstream."""
    head = exchange.head
    settings = chain.settings
    request_target = exchange.target
    if action.prefix_rewrite is not None or action.regex_rewrite is not None:
        if action.prefix_rewrite is not None:
            path = route.rewrite_path(head.path, action.prefix_rewrite)
        else:
            pattern, substitution = action.regex_rewrite  # type: ignore[misc]
            path = pattern.sub(substitution, head.path)
        request_target = path if head.query is None else path + b"?" + head.query
    host = action.host_rewrite or exchange.host_header
    headers = head.headers
    xff = exchange.xff
    if settings.use_remote_address:
        if not settings.skip_xff_append:
            peer = exchange.conn.peer
            xff = xff + b"," + peer if xff else peer
        xfp = chain.scheme
    else:
        xfp = exchange.xfp or chain.scheme
    if xff:
        headers.append((b"x-forwarded-for", xff))
    headers.append((b"x-forwarded-proto", xfp))
    request_id = exchange.request_id
    if request_id is None and settings.generate_request_id:
        request_id = exchange.request_id = new_request_id()
    if request_id is not None:
        headers.append((b"x-request-id", request_id))
    if exchange.te_trailers:
        headers.append((b"te", b"trailers"))
    if backend.request_ops:
        apply_ops(backend.request_ops, headers)
    if exchange.trace is not None:
        propagate(exchange.trace, headers)
    if action.mirrors:
        exchange.mirror_head = MirrorHead(head.method, request_target, host, list(headers))
    return request_target, host, headers


def build_upstream_head(
    exchange: Exchange,
    route: RouteEntry,
    action: ForwardAction,
    backend: ClusterTarget,
    chain: HttpChain,
) -> bytes:
    """The request line and headers for an HTTP/1.1 upstream, with every mutation applied."""
    request_target, host, headers = forwarded_request(exchange, route, action, backend, chain)
    lines = [exchange.head.method + b" " + request_target + b" HTTP/1.1\r\n"]
    lines += [name + b": " + value + CRLF for name, value in headers]
    lines.append(b"host: " + host + CRLF)
    body_kind = exchange.body_kind
    if body_kind == 1:
        lines.append(b"content-length: " + (exchange.content_length or b"0") + CRLF)
    elif body_kind == 2:
        lines.append(b"transfer-encoding: chunked\r\n")
    if exchange.upgrade is not None:
        lines.append(b"connection: upgrade\r\nupgrade: " + exchange.upgrade + CRLF)
    lines.append(CRLF)
    return b"".join(lines)


def build_upstream_fields(
    exchange: Exchange,
    route: RouteEntry,
    action: ForwardAction,
    backend: ClusterTarget,
    chain: HttpChain,
) -> Fields:
    """The header fields for an HTTP/2 upstream (h2c), pseudo-headers first."""
    request_target, host, headers = forwarded_request(exchange, route, action, backend, chain)
    fields = [
        (b":method", exchange.head.method),
        (b":scheme", b"http"),
        (b":authority", host),
        (b":path", request_target),
        *headers,
    ]
    if exchange.body_kind is BodyKind.LENGTH:
        fields.append((b"content-length", exchange.content_length or b"0"))
    return fields
