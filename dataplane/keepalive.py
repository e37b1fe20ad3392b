"""TCP keepalive on a socket: upstream connections of a cluster that asks for it, and
accepted client connections of a listener whose socket options ask for it."""

from __future__ import annotations

import socket
from typing import Any

from dataplane.config.connection import Keepalive


def enable_keepalive(sock: Any, keepalive: Keepalive) -> None:
    """``sock``: a socket or asyncio's wrapper of one. Best effort: a socket already gone is
    left alone."""
    if sock is None:
        return
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        if keepalive.idle is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, keepalive.idle)
        if keepalive.interval is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, keepalive.interval)
        if keepalive.probes is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, keepalive.probes)
    except OSError:
        return
