"""Stateful sessions (GEP-1619) at request time, in Envoy's token format, so a client can
move between agw proxies and Envoy without losing its endpoint.

The token names the endpoint ("ip:port"). A header session sends it base64-encoded. A cookie
session sends base64 of a small protobuf message (field 1: the address; field 2, with a TTL:
the expiry in Unix seconds), quoted, as ``name="token"; Max-Age=ttl; Path=path; HttpOnly``.
A request whose token names an endpoint of the cluster that is not ejected goes there;
otherwise the balancer picks, and the response carries a new token."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from dataplane.config.header_mutation import HeaderOp, HeaderOps
from dataplane.config.session import SessionConfig

if TYPE_CHECKING:
    from dataplane.upstream.balancer import ClusterBalancer

_ADDRESS_FIELD = 0x0A  # field 1, length-delimited
_EXPIRES_FIELD = 0x10  # field 2, varint


class SessionEndpoint(Protocol):
    host: str
    port: int

    def is_ejected(self) -> bool: ...


def endpoint_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def requested_address(
    session: SessionConfig, headers: Iterable[tuple[bytes, bytes]], now: float
) -> str | None:
    """The endpoint the request's token names, if it carries a valid, unexpired one."""
    if not session.cookie:
        value = next((v for k, v in headers if k == session.name), None)
        decoded = _b64decode(value) if value else None
        return decoded.decode("latin-1") if decoded else None
    value = _cookie_value(session.name, headers)
    decoded = _b64decode(value) if value else None
    if not decoded:
        return None
    parsed = _decode_cookie_message(decoded)
    if parsed is None:
        # Envoy's older tokens were the plain "ip:port"; a broken message is no token.
        return None if decoded[0] == _ADDRESS_FIELD else decoded.decode("latin-1")
    address, expires = parsed
    if expires and expires < now:
        return None
    return address


def choose(pools: Sequence[SessionEndpoint], address: str | None) -> SessionEndpoint | None:
    """The pool of the endpoint ``address`` names, when it is in the cluster and healthy."""
    if address is None:
        return None
    for pool in pools:
        if endpoint_address(pool.host, pool.port) == address:
            return None if pool.is_ejected() else pool
    return None


def token_ops(session: SessionConfig, address: str, now: float) -> HeaderOps:
    """The response header that hands the client a token for ``address``."""
    if not session.cookie:
        token = base64.b64encode(address.encode("latin-1"))
        return ((HeaderOp.OVERWRITE_OR_ADD, session.name, token),)
    message = _encode_cookie_message(address, int(now) + session.ttl if session.ttl else 0)
    parts = [session.name + b'="' + base64.b64encode(message) + b'"']
    if session.ttl:
        parts.append(b"Max-Age=%d" % session.ttl)
    parts.extend((b"Path=" + session.path, b"HttpOnly"))
    return ((HeaderOp.APPEND, b"set-cookie", b"; ".join(parts)),)


def without_token(ops: HeaderOps, session: SessionConfig) -> HeaderOps:
    """``ops`` minus a token an earlier attempt of the same request added."""
    if session.cookie:
        prefix = session.name + b'="'
        return tuple(op for op in ops if not (op[1] == b"set-cookie" and op[2].startswith(prefix)))
    return tuple(op for op in ops if op[1] != session.name)


def _cookie_value(name: bytes, headers: Iterable[tuple[bytes, bytes]]) -> bytes | None:
    for key, value in headers:
        if key != b"cookie":
            continue
        for pair in value.split(b";"):
            cookie_name, sep, cookie_value = pair.strip().partition(b"=")
            if sep and cookie_name == name:
                return cookie_value.strip(b'"')
    return None


def _b64decode(value: bytes) -> bytes | None:
    try:
        return base64.b64decode(value + b"=" * (-len(value) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _read_varint(data: bytes, offset: int) -> tuple[int, int]:
    value = shift = 0
    for _ in range(10):  # a 64-bit varint has at most 10 bytes
        byte = data[offset]
        offset += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, offset
    raise ValueError("varint too long")


def _encode_cookie_message(address: str, expires: int) -> bytes:
    encoded = address.encode("latin-1")
    message = bytes([_ADDRESS_FIELD]) + _varint(len(encoded)) + encoded
    if expires:
        message += bytes([_EXPIRES_FIELD]) + _varint(expires)
    return message


def _decode_cookie_message(data: bytes) -> tuple[str, int] | None:
    """(address, expiry or 0), or None when ``data`` is not the cookie message."""
    if not data or data[0] != _ADDRESS_FIELD:
        return None
    try:
        length, offset = _read_varint(data, 1)
        address = data[offset : offset + length]
        if len(address) != length:
            return None
        offset += length
        expires = 0
        if offset < len(data):
            if data[offset] != _EXPIRES_FIELD:
                return None
            expires, offset = _read_varint(data, offset + 1)
    except (IndexError, ValueError):
        return None
    return address.decode("latin-1"), expires


def sticky_pick(exchange: Any, balancer: ClusterBalancer, session: SessionConfig) -> Any:
    """The pool for one attempt of ``exchange`` on a session route; when the request's token
    does not decide, the balancer's pick, and the exchange's response gets a new token."""
    now = time.time()  # tokens carry wall-clock expiries, as Envoy's do
    address = requested_address(session, exchange.head.headers, now)
    pool = choose(balancer.pools, address)
    if pool is not None:
        return pool
    pool = balancer.pick()
    if pool is not None:
        backend = exchange.backend
        chosen = endpoint_address(pool.host, pool.port)
        ops = without_token(backend.response_ops, session) + token_ops(session, chosen, now)
        exchange.backend = dataclasses.replace(backend, response_ops=ops)
    return pool
