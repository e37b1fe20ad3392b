"""One socket write per HTTP/2 connection per event-loop iteration.

A connection's frames come from many callbacks in one iteration: its own reads, and the reads
of every upstream connection whose response it carries. They are collected and written once,
by a callback scheduled with the first of them, as Envoy flushes at the end of its dispatcher
loop. Measured: writing at the end of each callback instead made one write per response, and
the client's reads as many.
"""

from __future__ import annotations

import asyncio


class DeferredOutput:
    """Mixin: ``write`` collects, ``flush_writes`` sends (scheduled, or when closing)."""

    __slots__ = ()

    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport | None
    out: list[bytes]

    def write(self, data: bytes) -> None:
        out = self.out
        out.append(data)
        if len(out) == 1:
            self.loop.call_soon(self.flush_writes)

    def flush_writes(self) -> None:
        out = self.out
        if not out:
            return
        data = out[0] if len(out) == 1 else b"".join(out)
        out.clear()
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(data)
