"""HTTP/1.1 wire encoding shared by the downstream and upstream sides."""

from __future__ import annotations

import time
from email.utils import formatdate
from http import HTTPStatus

# Filled on first use of each status; read directly on the hot path.
_STATUS_LINES: dict[int, bytes] = {}

CRLF = b"\r\n"
CHUNKED_END = b"0\r\n\r\n"
CONTINUE_100 = b"HTTP/1.1 100 Continue\r\n\r\n"


def status_line(status: int) -> bytes:
    line = _STATUS_LINES.get(status)
    if line is None:
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = "Unknown"
        line = _STATUS_LINES[status] = f"HTTP/1.1 {status} {reason}\r\n".encode()
    return line


def encode_headers(headers: list[tuple[bytes, bytes]]) -> bytes:
    return b"".join([name + b": " + value + CRLF for name, value in headers])


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%b\r\n" % (len(data), data)


class DateHeader:
    """The ``date`` header, refreshed by the proxy's ticker as Envoy does every 500 ms: as an
    HTTP/1.1 line and as an HTTP/2 field."""

    __slots__ = ("field", "line", "second")

    def __init__(self) -> None:
        self.second = -1
        self.line = b""
        self.field = (b"date", b"")
        self.refresh()

    def refresh(self) -> None:
        now = int(time.time())
        if now != self.second:
            self.second = now
            value = formatdate(now, usegmt=True).encode()
            self.line = b"date: " + value + CRLF
            self.field = (b"date", value)


DATE = DateHeader()
