"""The PROXY protocol (HAProxy's, versions 1 and 2): a header a load balancer sends before a
connection's own bytes, naming the client it accepted.

``parse_proxy_header`` is sans-IO: it takes the bytes received so far and says whether they
hold a whole header (and how long it is), need more, or are not a PROXY header at all. The
acceptor (``dataplane.tcp.acceptor``) peeks, parses, and consumes exactly the header, so a TLS
ClientHello behind it is read by the TLS stack as if the header had never been there.

The client address the header names replaces the socket's peer wherever the proxy reports the
client (``x-forwarded-for``, CEL ``source``, access logs): ``forward_peer`` records it for an
accepted socket, and ``downstream_peer`` is what connections ask for their peer.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from enum import Enum
from typing import Any

V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
V1_PREFIX = b"PROXY "
# The longest version 1 header, CRLF included (the specification's bound).
V1_MAX_LENGTH = 107
V2_FIXED_LENGTH = 16
# A version 2 header with every TLV it may carry.
MAX_HEADER_LENGTH = V2_FIXED_LENGTH + 0xFFFF
_V2_LOCAL, _V2_PROXY = 0x20, 0x21
_V2_TCP4, _V2_TCP6 = 0x11, 0x21
_V2_ADDRESS_LENGTH = {_V2_TCP4: 12, _V2_TCP6: 36}


class InvalidProxyHeader(ValueError):
    """The bytes start like a PROXY header but are not a valid one."""


class Pending(Enum):
    """Not decided yet: more bytes are needed (``INCOMPLETE``), or none start a header
    (``ABSENT``)."""

    INCOMPLETE = "incomplete"
    ABSENT = "absent"


@dataclass(frozen=True, slots=True)
class ProxyHeader:
    # Bytes the header takes at the start of the stream.
    length: int
    # The client's address; None for a health check (v2 LOCAL, v1 UNKNOWN): keep the peer.
    source: str | None
    source_port: int = 0


def parse_proxy_header(data: bytes) -> ProxyHeader | Pending:
    """What ``data`` (the first bytes of a connection) starts with."""
    if data[: len(V2_SIGNATURE)] == V2_SIGNATURE[: len(data)]:
        return _parse_v2(data) if len(data) >= len(V2_SIGNATURE) else Pending.INCOMPLETE
    if data[: len(V1_PREFIX)] == V1_PREFIX[: len(data)]:
        return _parse_v1(data) if len(data) >= len(V1_PREFIX) else Pending.INCOMPLETE
    return Pending.ABSENT


def _parse_v1(data: bytes) -> ProxyHeader | Pending:
    end = data.find(b"\r\n", 0, V1_MAX_LENGTH)
    if end < 0:
        if len(data) >= V1_MAX_LENGTH:
            raise InvalidProxyHeader("a version 1 header longer than 107 bytes")
        return Pending.INCOMPLETE
    words = data[len(V1_PREFIX) : end].decode("ascii", "replace").split(" ")
    if words[0] == "UNKNOWN":
        return ProxyHeader(end + 2, None)
    if len(words) != 5 or words[0] not in ("TCP4", "TCP6"):
        raise InvalidProxyHeader(f"a malformed version 1 header {data[:end]!r}")
    family = 4 if words[0] == "TCP4" else 6
    for address in words[1:3]:
        _check_address(address, family)
    for port in words[3:5]:
        if not port.isdigit() or int(port) > 0xFFFF or (len(port) > 1 and port[0] == "0"):
            raise InvalidProxyHeader(f"a version 1 header with port {port!r}")
    return ProxyHeader(end + 2, words[1], int(words[3]))


def _check_address(text: str, family: int) -> None:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise InvalidProxyHeader(f"a version 1 header with address {text!r}") from None
    if address.version != family:
        raise InvalidProxyHeader(f"a TCP{family} header with address {text!r}")


def _parse_v2(data: bytes) -> ProxyHeader | Pending:
    if len(data) < V2_FIXED_LENGTH:
        return Pending.INCOMPLETE
    command, family = data[12], data[13]
    length = V2_FIXED_LENGTH + int.from_bytes(data[14:16], "big")
    if command not in (_V2_LOCAL, _V2_PROXY):
        raise InvalidProxyHeader(f"a version 2 header with version/command {command:#x}")
    if len(data) < length:
        return Pending.INCOMPLETE
    if command == _V2_LOCAL or family not in _V2_ADDRESS_LENGTH:
        # LOCAL (a balancer's own health check) and unknown families keep the real peer.
        return ProxyHeader(length, None)
    if length - V2_FIXED_LENGTH < _V2_ADDRESS_LENGTH[family]:
        raise InvalidProxyHeader("a version 2 header too short for its addresses")
    size = 4 if family == _V2_TCP4 else 16
    source = ipaddress.ip_address(data[V2_FIXED_LENGTH : V2_FIXED_LENGTH + size])
    # Source address, destination address, then source port and destination port.
    at = V2_FIXED_LENGTH + 2 * size
    return ProxyHeader(length, str(source), int.from_bytes(data[at : at + 2], "big"))


def encode_v2(source: tuple[str, int], destination: tuple[str, int]) -> bytes:
    """A version 2 PROXY header for a TCP connection (what a load balancer sends)."""
    src, dst = ipaddress.ip_address(source[0]), ipaddress.ip_address(destination[0])
    family = _V2_TCP4 if src.version == 4 else _V2_TCP6
    ports = source[1].to_bytes(2, "big") + destination[1].to_bytes(2, "big")
    body = src.packed + dst.packed + ports
    return V2_SIGNATURE + bytes((_V2_PROXY, family)) + len(body).to_bytes(2, "big") + body


# Accepted sockets whose PROXY header named a client: (local, peer) address -> the client. An
# entry lives from the header's consumption until the connection's HTTP protocol claims it;
# connections that never do (TCP proxying, failed handshakes) are evicted oldest first.
_FORWARDED: dict[tuple[Any, Any], tuple[str, int]] = {}
_MAX_FORWARDED = 4096


def forward_peer(connection: socket.socket, source: str, port: int) -> tuple[Any, Any]:
    key = (connection.getsockname(), connection.getpeername())
    _FORWARDED.pop(key, None)
    _FORWARDED[key] = (source, port)
    if len(_FORWARDED) > _MAX_FORWARDED:
        del _FORWARDED[next(iter(_FORWARDED))]
    return key


def forget_peer(key: tuple[Any, Any]) -> None:
    _FORWARDED.pop(key, None)


def downstream_peer(transport: Any) -> tuple[bytes, int]:
    """The client's address and port of an accepted connection: the PROXY header's, else the
    peer's."""
    peer = transport.get_extra_info("peername")
    if _FORWARDED and peer:
        forwarded = _FORWARDED.pop((transport.get_extra_info("sockname"), peer), None)
        if forwarded is not None:
            return forwarded[0].encode(), forwarded[1]
    return (str(peer[0]).encode(), int(peer[1])) if peer else (b"", 0)
