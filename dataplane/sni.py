"""Reading SNI and ALPN from a TLS ClientHello, sans-IO, as Envoy's tls_inspector does.

``inspect_client_hello`` takes the bytes a client sent so far (the listener peeks them, so they
stay in the socket for whoever handles the connection next) and says whether they hold a whole
ClientHello, need more bytes, or are not TLS at all. The handshake message may span several
TLS records; every length is checked against what encloses it, so garbage never raises.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

# Envoy's tls_inspector gives up on a ClientHello larger than this (max_client_hello_size).
MAX_CLIENT_HELLO = 64 * 1024
_HANDSHAKE_RECORD = 0x16
_CLIENT_HELLO = 0x01
_RECORD_HEADER = 5
# A TLSPlaintext fragment is at most 2^14 bytes.
_MAX_FRAGMENT = 1 << 14
_SERVER_NAME_EXTENSION = 0
_ALPN_EXTENSION = 16
_HOST_NAME = 0


class Verdict(Enum):
    INCOMPLETE = "incomplete"
    NOT_TLS = "not-tls"


@dataclass(frozen=True, slots=True)
class ClientHello:
    server_name: str | None
    alpn: tuple[str, ...]


class _Malformed(Exception):
    pass


def inspect_client_hello(data: bytes) -> ClientHello | Verdict:
    """A ClientHello, ``INCOMPLETE`` (more bytes could complete it) or ``NOT_TLS``."""
    handshake = bytearray()
    offset = 0
    while True:
        if len(data) - offset < _RECORD_HEADER:
            return Verdict.INCOMPLETE
        kind, major, length = data[offset], data[offset + 1], _u16(data, offset + 3)
        if kind != _HANDSHAKE_RECORD or major != 3 or not 0 < length <= _MAX_FRAGMENT:
            return Verdict.NOT_TLS
        fragment = data[offset + _RECORD_HEADER : offset + _RECORD_HEADER + length]
        handshake += fragment
        if handshake and handshake[0] != _CLIENT_HELLO:
            return Verdict.NOT_TLS
        if len(handshake) >= 4:
            size = int.from_bytes(handshake[1:4], "big")
            if size + 4 > MAX_CLIENT_HELLO:
                return Verdict.NOT_TLS
            if len(handshake) >= size + 4:
                try:
                    return _client_hello(bytes(handshake[4 : size + 4]))
                except _Malformed:
                    return Verdict.NOT_TLS
        if len(fragment) < length:
            return Verdict.INCOMPLETE
        offset += _RECORD_HEADER + length


def _u16(data: bytes, offset: int) -> int:
    return (data[offset] << 8) | data[offset + 1]


class _Reader:
    """Length-prefixed fields of one message; any overrun is ``_Malformed``."""

    __slots__ = ("data", "offset")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.offset = 0

    def take(self, size: int) -> bytes:
        end = self.offset + size
        if end > len(self.data):
            raise _Malformed
        chunk = self.data[self.offset : end]
        self.offset = end
        return chunk

    def vector(self, length_bytes: int) -> bytes:
        return self.take(int.from_bytes(self.take(length_bytes), "big"))

    @property
    def done(self) -> bool:
        return self.offset == len(self.data)


def _client_hello(body: bytes) -> ClientHello:
    reader = _Reader(body)
    reader.take(2 + 32)  # legacy_version, random
    reader.vector(1)  # legacy_session_id
    reader.vector(2)  # cipher_suites
    reader.vector(1)  # legacy_compression_methods
    server_name: str | None = None
    alpn: tuple[str, ...] = ()
    if reader.done:
        return ClientHello(None, ())
    extensions = _Reader(reader.vector(2))
    # Each extension consumes at least 4 bytes, so the loop is bounded by the message size.
    while not extensions.done:
        kind = int.from_bytes(extensions.take(2), "big")
        payload = extensions.vector(2)
        if kind == _SERVER_NAME_EXTENSION:
            server_name = _server_name(payload)
        elif kind == _ALPN_EXTENSION:
            alpn = _alpn(payload)
    return ClientHello(server_name, alpn)


def _server_name(payload: bytes) -> str | None:
    names = _Reader(_Reader(payload).vector(2))
    while not names.done:
        kind = names.take(1)[0]
        name = names.vector(2)
        if kind == _HOST_NAME:
            try:
                return name.decode("ascii").lower()
            except UnicodeDecodeError:
                raise _Malformed from None
    return None


def _alpn(payload: bytes) -> tuple[str, ...]:
    protocols = _Reader(_Reader(payload).vector(2))
    found = []
    while not protocols.done:
        found.append(protocols.vector(1).decode("latin-1"))
    return tuple(found)


class ClientHelloReader:
    """Incremental front end for bytes that arrive in pieces (tests, non-peeking callers)."""

    __slots__ = ("buffer", "result")

    def __init__(self) -> None:
        self.buffer = b""
        self.result: ClientHello | Verdict = Verdict.INCOMPLETE

    def feed(self, data: bytes) -> ClientHello | Verdict:
        if self.result is Verdict.INCOMPLETE:
            self.buffer += data
            self.result = inspect_client_hello(self.buffer)
        return self.result
