"""agw's CEL transformation filter: a route's request and response rewritten by expressions.

The request side runs once the request is authorized: metadata first, then header changes
(remove, set, add) on the head that is forwarded, then ``body``, whose value replaces the
request body (the client's body is read and dropped; Content-Length tells the new size).

The response side runs when the response head is known, upstream or local: its expressions
see ``response`` (status code and headers) besides the request. A ``body`` expression there
replaces the response body; the upstream's body is then dropped and the new one is sent with
its own Content-Length. An expression that fails or yields null writes nothing (a body
expression that fails leaves the body alone).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from cel import Activation, EvaluationError, Value
from dataplane.cel.exchange import exchange_variables
from dataplane.config.header_mutation import HeaderOp, HeaderOps, apply_ops
from dataplane.config.policy_auth import CelTransform, Expression, RouteAuth
from dataplane.http1.exchange_state import BodyKind

if TYPE_CHECKING:
    from dataplane.http1.exchange import Exchange

Headers = list[tuple[bytes, bytes]]


class ResponseHead:
    """``response`` to CEL: the status code and headers about to be sent."""

    __slots__ = ("_headers", "code")

    def __init__(self, code: int, headers: Iterable[tuple[bytes, bytes]]) -> None:
        self.code = code
        self._headers = tuple(headers)

    def header_items(self) -> Iterator[tuple[str, str]]:
        for name, value in self._headers:
            yield name.decode("latin-1"), value.decode("latin-1")


def evaluate(expression: Expression, variables: Activation, on_error: Value) -> Value:
    if expression.program is None:
        return on_error
    try:
        return expression.program.evaluate(variables)
    except EvaluationError:
        return on_error


class ResponseTransform:
    """A route's response transformation, waiting for the response head."""

    __slots__ = ("exchange", "transform")

    def __init__(self, exchange: Exchange, transform: CelTransform) -> None:
        self.exchange = exchange
        self.transform = transform

    def evaluate(
        self, status: int, headers: Iterable[tuple[bytes, bytes]]
    ) -> tuple[HeaderOps, bytes | None]:
        """The header changes for this response, and its new body if ``body`` is set."""
        response = ResponseHead(status, headers)
        variables = _variables(self.exchange, self.transform, response)
        ops = header_ops(self.transform, variables)
        body = self.transform.body
        return ops, body_bytes(evaluate(body, variables, None)) if body is not None else None


def begin(exchange: Exchange, auth: RouteAuth) -> None:
    """Transform the request of a route now, and keep its response transformation for the
    response."""
    if auth.request is not None:
        transform_request(exchange, auth.request)
    if auth.response is not None:
        exchange.response_transform = ResponseTransform(exchange, auth.response)


def transform_request(exchange: Exchange, transform: CelTransform) -> None:
    metadata = exchange.cel_metadata = _metadata(exchange, transform, None)
    variables = exchange_variables(exchange, metadata=metadata)
    apply_ops(header_ops(transform, variables), exchange.head.headers)
    if transform.body is None:
        return
    body = body_bytes(evaluate(transform.body, variables, None))
    if body is None:
        return
    exchange.body_replaced = True
    exchange.body_kind = BodyKind.LENGTH
    exchange.content_length = b"%d" % len(body)
    exchange.pending = [body]
    exchange.pending_size = len(body)


def response_headers(exchange: Exchange, status: int, headers: Headers) -> Headers | None:
    """``headers`` of an upstream response with the response transformation applied; None
    when a new body was set, the response then having been answered as a local reply."""
    transform = exchange.response_transform
    assert transform is not None
    exchange.response_transform = None
    ops, body = transform.evaluate(status, headers)
    if body is None:
        headers = list(headers)
        apply_ops(ops, headers)
        return headers
    kept = [(n, v) for n, v in headers if n != b"content-type"]
    content_type = next((v for n, v in headers if n == b"content-type"), None)
    if content_type is not None:
        # The local reply labels its body text/plain; the upstream's label wins.
        ops = ((HeaderOp.OVERWRITE_OR_ADD, b"content-type", content_type), *ops)
    exchange.local_reply(status, body, kept, ops)
    return None


def local_reply_changes(
    exchange: Exchange, status: int, body: bytes, extra: Headers | None, ops: HeaderOps
) -> tuple[bytes, HeaderOps]:
    """The body and header changes of a local reply once the response transformation ran."""
    transform = exchange.response_transform
    assert transform is not None
    exchange.response_transform = None
    changes, new_body = transform.evaluate(status, extra or ())
    return (body if new_body is None else new_body), ops + changes


def _variables(
    exchange: Exchange, transform: CelTransform, response: ResponseHead | None
) -> Activation:
    """The transformation's variables: the exchange's, and ``metadata``."""
    metadata = _metadata(exchange, transform, response)
    return exchange_variables(exchange, metadata=metadata, response=response)


def _metadata(
    exchange: Exchange, transform: CelTransform, response: ResponseHead | None
) -> dict[str, Value] | None:
    """The values of the ``metadata`` expressions (those that fail or yield null left out)."""
    if not transform.metadata:
        return None
    metadata: dict[str, Value] = {}
    variables = exchange_variables(exchange, response=response)
    for key, expression in transform.metadata:
        value = evaluate(expression, variables, None)
        if value is not None:
            metadata[key] = value
    return metadata or None


def header_ops(transform: CelTransform, variables: Activation) -> HeaderOps:
    ops: list[tuple[HeaderOp, bytes, bytes]] = [(HeaderOp.REMOVE, n, b"") for n in transform.remove]
    for kind, headers in (
        (HeaderOp.OVERWRITE_OR_ADD, transform.set),
        (HeaderOp.APPEND, transform.add),
    ):
        for header in headers:
            value = header_value(evaluate(header.expression, variables, None))
            if value is not None:
                ops.append((kind, header.name, value))
    return tuple(ops)


def body_bytes(value: Value) -> bytes | None:
    """A CEL value as a body: bytes as they are, strings UTF-8, others as JSON."""
    if value is None:
        return None
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    return _text(value).encode("utf-8")


def header_value(value: Value) -> bytes | None:
    """A CEL value as a header value: strings as they are, others as JSON-ish text."""
    if value is None:
        return None
    if isinstance(value, bytes):
        return value
    encoded = (value if isinstance(value, str) else _text(value)).encode("utf-8")
    # A value with a line break would split the header: never written.
    return None if b"\r" in encoded or b"\n" in encoded else encoded


def _text(value: Value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    try:
        return json.dumps(value, separators=(",", ":"), default=str)
    except (TypeError, ValueError):
        return str(value)
