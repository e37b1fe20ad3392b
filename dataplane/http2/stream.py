"""What the codec keeps per stream, and what it reports to the side that owns the streams.

The proxy's per-stream objects (a downstream request, an upstream request) subclass
``StreamState``, so the codec's bookkeeping and the proxy's live in one object per stream.
"""

from __future__ import annotations

from collections import deque
from typing import Protocol

Field = tuple[bytes, bytes]


class StreamState:
    """Per-stream codec state. Class-level defaults (no ``__slots__``): a new stream sets only
    what differs, which measured cheaper than assigning every field per request."""

    stream_id = 0
    send_window = 0
    recv_window = 0
    # Received bytes not yet returned to the peer with WINDOW_UPDATE.
    unacked = 0
    # While ``hold`` is set (the consumer cannot keep up) received bytes wait in ``held``.
    hold = False
    held = 0
    local_closed = False
    remote_closed = False
    head_received = False
    # DATA waiting for flow-control window, then END_STREAM or trailers.
    backlog: deque[bytes] | None = None
    backlog_size = 0
    backlog_end = False
    backlog_trailers: list[Field] | None = None
    # The backlog grew past the limit and the producer was told to stop.
    stalled = False
    # Our side is done early: reset the peer's half once our END_STREAM has gone out.
    reset_when_sent = False


class StreamEvents(Protocol):
    """The codec's callbacks. Measured cheaper than building an event object per frame."""

    def new_stream(self, stream_id: int) -> StreamState:
        """The peer opens a stream (server side only)."""
        ...

    def on_headers(self, stream: StreamState, headers: list[Field] | None, end: bool) -> None:
        """The first (final) header block of a stream; None when it exceeded the size limit."""
        ...

    def on_trailers(self, stream: StreamState, headers: list[Field]) -> None: ...

    def on_data(self, stream: StreamState, data: bytes, end: bool) -> None: ...

    def on_reset(self, stream: StreamState, code: int) -> None:
        """The stream ended abnormally: the peer reset it, it broke the protocol, or the peer's
        GOAWAY says it was never processed (code REFUSED_STREAM then)."""
        ...

    def on_drained(self, stream: StreamState) -> None:
        """A stalled stream's backlog went out: its producer may resume."""
        ...

    def on_goaway(self, last_stream_id: int, code: int) -> None: ...

    def on_connection_error(self, code: int, message: str) -> None:
        """The connection is unusable; GOAWAY has been queued. Close after flushing."""
        ...
