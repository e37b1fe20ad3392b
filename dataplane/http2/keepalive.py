"""HTTP/2 connection keepalive: a PING when a client connection has been silent for
``interval``, and the connection closed when nothing (the PING's ACK included) arrives within
``timeout`` of it, as Envoy's ``Http2ProtocolOptions.connection_keepalive``.

Sans-IO: ``check`` takes the clock and the connection's last activity and says what to do;
the connection's timeout tick calls it and writes the frame or closes."""

from __future__ import annotations

import os
from dataclasses import dataclass
from enum import Enum

from dataplane.config.cluster import Http2Options
from dataplane.http2 import frames as f


class KeepaliveAction(Enum):
    NOTHING = 0
    PING = 1
    CLOSE = 2


@dataclass(slots=True)
class PingKeepalive:
    interval: float
    timeout: float
    # When the unanswered PING went out; None when none is outstanding.
    sent_at: float | None = None

    def check(self, now: float, last_active: float) -> KeepaliveAction:
        if self.sent_at is not None and last_active > self.sent_at:
            self.sent_at = None  # the peer spoke after the PING: alive
        if self.sent_at is None:
            if now - last_active < self.interval:
                return KeepaliveAction.NOTHING
            self.sent_at = now
            return KeepaliveAction.PING
        if now - self.sent_at >= self.timeout:
            return KeepaliveAction.CLOSE
        return KeepaliveAction.NOTHING


def ping_frame() -> bytes:
    """A PING with an opaque payload the peer echoes in its ACK."""
    return f.frame_header(8, f.PING, 0, 0) + os.urandom(8)


def new_keepalive(options: Http2Options) -> PingKeepalive | None:
    if options.keepalive_interval is None:
        return None
    timeout = options.keepalive_timeout
    return PingKeepalive(options.keepalive_interval, timeout if timeout is not None else 20.0)
