"""Request mirroring: a copy of the request goes to another cluster; its response is dropped.

The copy is sent once the original request is complete (its body is buffered up to a bound);
a mirror that fails is counted and otherwise ignored, as in Envoy. The copy is serialized for
the mirror cluster's protocol (HTTP/1.1, or HTTP/2 for h2c clusters).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from dataplane.upstream.connection import UpstreamConnection
from dataplane.upstream.pool import EndpointPool

if TYPE_CHECKING:
    from dataplane.http2.pool import Http2Pool
    from dataplane.http2.upstream import UpstreamStream
    from dataplane.upstream.balancer import ClusterBalancer

# Bodies above this are not mirrored (Envoy also gives up shadowing on buffer overflow).
MAX_MIRROR_BODY = 1 << 20


@dataclass(frozen=True, slots=True)
class MirrorHead:
    """The forwarded request's method, target, host and headers (no framing headers)."""

    method: bytes
    target: bytes
    host: bytes
    headers: list[tuple[bytes, bytes]]


class MirrorRequest:
    """A fire-and-forget exchange that satisfies both the pool's and the connection's callers."""

    __slots__ = ("body", "connection", "head", "pool")

    def __init__(self, pool: EndpointPool | Http2Pool, head: MirrorHead, body: bytes) -> None:
        self.pool = pool
        self.head = head
        self.body = body
        self.connection: UpstreamConnection | UpstreamStream | None = None

    @classmethod
    def send(cls, balancer: ClusterBalancer, head: MirrorHead, body: bytes) -> None:
        pool = balancer.pick()
        if pool is None:
            return
        mirror = cls(pool, head, body)
        connection = pool.acquire() if type(pool) is EndpointPool else None
        if connection is not None:
            mirror.on_upstream_ready(connection)
        else:
            pool.request(mirror)

    def on_upstream_ready(self, connection: UpstreamConnection | UpstreamStream) -> None:
        self.connection = connection
        connection.attach(self, skip_body=False)
        head = self.head
        # Envoy appends "-shadow" to the host of the copy.
        host = head.host + b"-shadow"
        if type(connection) is UpstreamConnection:
            connection.write(mirror_payload(head, host, self.body))
            return
        fields = [
            (b":method", head.method),
            (b":scheme", b"http"),
            (b":authority", host),
            (b":path", head.target),
            *head.headers,
        ]
        if self.body:
            fields.append((b"content-length", b"%d" % len(self.body)))
        stream = cast("UpstreamStream", connection)
        stream.send_request(fields, [self.body] if self.body else [], True, None)

    def on_connect_failed(self) -> None:
        self.connection = None

    def on_response_head(self, status: int, response: object) -> None:
        pass

    def on_response_body(self, data: bytes) -> None:
        pass

    def on_response_trailers(self, trailers: list[tuple[bytes, bytes]]) -> None:
        pass

    def on_response_end(self) -> None:
        connection = self.connection
        if connection is not None:
            self.connection = None
            connection.release()

    def on_upstream_lost(self, connection: object) -> None:
        self.connection = None

    def on_tunnel_data(self, data: bytes) -> None:
        pass

    def on_upstream_writable(self, writable: bool) -> None:
        pass


def mirror_payload(head: MirrorHead, host: bytes, body: bytes) -> bytes:
    lines = [head.method + b" " + head.target + b" HTTP/1.1\r\n"]
    lines += [name + b": " + value + b"\r\n" for name, value in head.headers]
    lines.append(b"host: " + host + b"\r\n")
    if body:
        lines.append(b"content-length: %d\r\n" % len(body))
    lines.append(b"\r\n")
    return b"".join(lines) + body
