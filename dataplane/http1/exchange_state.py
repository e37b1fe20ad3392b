"""What an exchange knows, declared once with its defaults.

Class-level defaults mean a new exchange sets only what differs from them, which measured
cheaper than initialising every attribute per request. ``Exchange`` adds the behaviour.
"""

from __future__ import annotations

import asyncio
from enum import IntEnum
from typing import TYPE_CHECKING

from dataplane.config.route_table import ClusterTarget, ForwardAction, RetryPolicy, RouteEntry

if TYPE_CHECKING:
    from dataplane.chain import HttpChain
    from dataplane.upstream.balancer import ClusterBalancer
    from dataplane.upstream.connection import UpstreamConnection
    from dataplane.upstream.pool import EndpointPool


class BodyKind(IntEnum):
    NONE = 0
    LENGTH = 1
    CHUNKED = 2


class Framing(IntEnum):
    """How the response body is framed towards the client."""

    NONE = 0
    LENGTH = 1
    CHUNKED = 2
    CLOSE = 3
    TUNNEL = 4


class ExchangeState:
    # No __slots__: see the module docstring.
    keep_alive = True
    version_10 = False
    body_kind = BodyKind.NONE
    content_length: bytes | None = None
    expect_continue = False
    upgrade: bytes | None = None
    xff: bytes | None = None
    xfp: bytes | None = None
    request_id: bytes | None = None
    te_trailers = False
    done = False
    rejection = 0
    started_at = 0.0
    chain: HttpChain | None = None
    route: RouteEntry | None = None
    action: ForwardAction | None = None
    backend: ClusterTarget | None = None
    balancer: ClusterBalancer | None = None
    retry: RetryPolicy | None = None
    cluster = ""
    upstream_head = b""
    # Framed request body not yet written upstream (and, with a retry policy, kept to replay).
    pending: list[bytes] | None = None
    pending_size = 0
    replay: list[bytes] | None = None
    replay_size = 0
    mirror_body: list[bytes] | None = None
    mirrors: list[ClusterBalancer] | None = None
    mirror_lines = b""
    upstream_host = b""
    early_tunnel: list[bytes] | None = None
    upstream: UpstreamConnection | None = None
    connecting: EndpointPool | None = None
    route_timer: asyncio.TimerHandle | None = None
    try_timer: asyncio.TimerHandle | None = None
    backoff_timer: asyncio.TimerHandle | None = None
    deadline = 0.0
    attempts = 0
    retries = 0
    sent_any = False
    started = False
    response_started = False
    discarding = False
    finished = False
    until_close = False
    framing = Framing.NONE
    status = 0
