"""The cors HTTP filter on the request path, as Envoy's: a preflight from an allowed origin is
answered by the proxy; any other request from an allowed origin is forwarded and its response
gets the CORS headers. Requests without an Origin, or from an origin the policy does not allow,
pass through untouched (a preflight then reaches the backend, Envoy's default
``forward_not_matching_preflights``)."""

from __future__ import annotations

from dataplane.config.cors import CorsPolicy
from dataplane.config.header_mutation import HeaderOp, HeaderOps
from dataplane.request import RequestHead

Headers = list[tuple[bytes, bytes]]


def evaluate(policy: CorsPolicy, head: RequestHead) -> tuple[Headers | None, HeaderOps]:
    """The preflight answer's headers (None: no preflight to answer) and the mutations for the
    response of a forwarded request."""
    origin = allowed_origin(policy, head)
    if origin is None:
        return None, ()
    if is_preflight(head):
        return preflight_headers(policy, origin), ()
    return None, response_ops(policy, origin)


def allowed_origin(policy: CorsPolicy, head: RequestHead) -> bytes | None:
    """The request's Origin when the policy allows it; None for a request CORS leaves alone."""
    origin = head.header(b"origin")
    if not origin or not policy.allows(origin):
        return None
    return origin


def is_preflight(head: RequestHead) -> bool:
    return head.method == b"OPTIONS" and bool(head.header(b"access-control-request-method"))


def preflight_headers(policy: CorsPolicy, origin: bytes) -> Headers:
    headers = [(b"access-control-allow-origin", origin)]
    if policy.allow_credentials:
        headers.append((b"access-control-allow-credentials", b"true"))
    for name, value in (
        (b"access-control-allow-methods", policy.allow_methods),
        (b"access-control-allow-headers", policy.allow_headers),
        (b"access-control-max-age", policy.max_age),
    ):
        if value:
            headers.append((name, value))
    return headers


def response_ops(policy: CorsPolicy, origin: bytes) -> HeaderOps:
    """Set on the response after the route's own mutations (the cors filter encodes later)."""
    ops = [(HeaderOp.OVERWRITE_OR_ADD, b"access-control-allow-origin", origin)]
    if policy.allow_credentials:
        ops.append((HeaderOp.OVERWRITE_OR_ADD, b"access-control-allow-credentials", b"true"))
    if policy.expose_headers:
        ops.append(
            (HeaderOp.OVERWRITE_OR_ADD, b"access-control-expose-headers", policy.expose_headers)
        )
    return tuple(ops)
