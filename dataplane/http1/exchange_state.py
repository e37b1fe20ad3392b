"""What an exchange knows, declared once with its defaults, and what it needs from the
client side that carries it (an HTTP/1.1 connection or one HTTP/2 stream).

Class-level defaults mean a new exchange sets only what differs from them, which measured
cheaper than initialising every attribute per request. ``Exchange`` adds the behaviour.
"""

from __future__ import annotations

import asyncio
from enum import IntEnum
from typing import TYPE_CHECKING, Protocol

from dataplane.config.header_mutation import HeaderOps
from dataplane.config.route_table import ClusterTarget, ForwardAction, RetryPolicy, RouteEntry

if TYPE_CHECKING:
    from cel import Value
    from dataplane.cel.exchange import Identity
    from dataplane.chain import HttpChain
    from dataplane.clock import Clock
    from dataplane.extauth import AuthHold
    from dataplane.http1.exchange import Exchange
    from dataplane.http2.pool import Http2Pool
    from dataplane.http2.upstream import UpstreamStream
    from dataplane.stats import ProxyStats
    from dataplane.tracing import TraceContext
    from dataplane.transformation import ResponseTransform
    from dataplane.upstream.balancer import ClusterBalancer
    from dataplane.upstream.connection import UpstreamConnection
    from dataplane.upstream.mirror import MirrorHead
    from dataplane.upstream.pool import EndpointPool

Fields = list[tuple[bytes, bytes]]


class Downstream(Protocol):
    """The client side of an exchange: ``DownstreamConnection`` or ``Http2Stream``."""

    PAUSE_BODY: int
    PAUSE_UPSTREAM: int

    @property
    def loop(self) -> asyncio.AbstractEventLoop: ...
    @property
    def clock(self) -> Clock: ...
    @property
    def stats(self) -> ProxyStats: ...
    @property
    def buffer_limit(self) -> int: ...
    @property
    def peer(self) -> bytes: ...
    @property
    def peer_port(self) -> int: ...
    @property
    def draining(self) -> bool: ...
    @property
    def transport(self) -> asyncio.Transport | None: ...

    def write(self, data: bytes) -> None:
        """HTTP/1.1 bytes for the client (only the HTTP/1.1 exchange writes them)."""
        ...

    def set_paused(self, reason: int, paused: bool) -> None:
        """Stop (or resume) taking request bytes from the client for ``reason``."""
        ...

    def abort(self) -> None:
        """Give up on the response half-sent: reset the connection or the stream."""
        ...

    def exchange_finished(self, exchange: Exchange, close: bool) -> None: ...
    def start_tunnel(self, exchange: Exchange) -> None: ...


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
    # Set by the cors filter for a request from an allowed origin.
    cors_ops: HeaderOps = ()
    # Who authentication found (jwt, basicAuth, apiKey), for CEL that runs later.
    identity: Identity | None = None
    # The dynamic metadata of the ext_authz services that allowed the request (CEL ``extauthz``).
    extauthz: dict[str, Value] | None = None
    # The request transformation's ``metadata``, for the CEL of access logs, spans and metrics.
    cel_metadata: dict[str, Value] | None = None
    # A route's CEL response transformation, run when the response head is known.
    response_transform: ResponseTransform | None = None
    # A transformation set the request body: the client's is read and dropped.
    body_replaced = False
    # A route's buffer limit (dataplane.traffic): -1 for none, else body bytes allowed.
    body_limit = -1
    body_seen = 0
    # A request tracing records: its span's ids.
    trace: TraceContext | None = None
    # Set while ext_authz services decide; the request is held until they do.
    auth: AuthHold | None = None
    balancer: ClusterBalancer | None = None
    retry: RetryPolicy | None = None
    cluster = ""
    upstream_head = b""
    # An h2c cluster: the request goes as HTTP/2 header fields, the body unframed.
    upstream_h2 = False
    upstream_fields: Fields | None = None
    request_trailers: Fields | None = None
    # Framed request body not yet written upstream (and, with a retry policy, kept to replay).
    pending: list[bytes] | None = None
    pending_size = 0
    replay: list[bytes] | None = None
    replay_size = 0
    mirror_body: list[bytes] | None = None
    mirrors: list[ClusterBalancer] | None = None
    # The upstream request as mirrors copy it.
    mirror_head: MirrorHead | None = None
    early_tunnel: list[bytes] | None = None
    upstream: UpstreamConnection | UpstreamStream | None = None
    connecting: EndpointPool | Http2Pool | None = None
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
