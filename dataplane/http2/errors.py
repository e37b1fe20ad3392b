"""What can go wrong inside the HTTP/2 codec, named by what went wrong."""

from __future__ import annotations

from dataplane.http2.frames import ErrorCode


class ConnectionFailed(Exception):
    """The peer broke the protocol; the connection ends with GOAWAY carrying ``code``."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code


class HeaderBlockInvalid(Exception):
    """A header block could not be decoded (an HPACK compression error)."""


class HeaderFieldInvalid(Exception):
    """A header name or value that HTTP/2 forbids (upper case, CR, LF, NUL...)."""
