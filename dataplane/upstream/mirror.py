"""Request mirroring: a copy of the request goes to another cluster; its response is dropped.

The copy is sent once the original request is complete (its body is buffered up to a bound);
a mirror that fails is counted and otherwise ignored, as in Envoy.
"""

from __future__ import annotations

from dataplane.upstream.balancer import ClusterBalancer
from dataplane.upstream.connection import UpstreamConnection
from dataplane.upstream.pool import EndpointPool

# Bodies above this are not mirrored (Envoy also gives up shadowing on buffer overflow).
MAX_MIRROR_BODY = 1 << 20


class MirrorRequest:
    """A fire-and-forget exchange that satisfies both the pool's and the connection's callers."""

    __slots__ = ("connection", "payload", "pool")

    def __init__(self, pool: EndpointPool, payload: bytes) -> None:
        self.pool = pool
        self.payload = payload
        self.connection: UpstreamConnection | None = None

    @classmethod
    def send(cls, balancer: ClusterBalancer, payload: bytes) -> None:
        pool = balancer.pick()
        if pool is None:
            return
        mirror = cls(pool, payload)
        connection = pool.acquire()
        if connection is not None:
            mirror.on_upstream_ready(connection)
        else:
            pool.request(mirror)

    def on_upstream_ready(self, connection: UpstreamConnection) -> None:
        self.connection = connection
        connection.attach(self, skip_body=False)
        connection.write(self.payload)

    def on_connect_failed(self) -> None:
        self.connection = None

    def on_response_head(self, status: int, response: UpstreamConnection) -> None:
        pass

    def on_response_body(self, data: bytes) -> None:
        pass

    def on_response_end(self) -> None:
        connection = self.connection
        if connection is not None:
            self.connection = None
            self.pool.release(connection)

    def on_upstream_lost(self, connection: UpstreamConnection) -> None:
        self.connection = None

    def on_tunnel_data(self, data: bytes) -> None:
        pass

    def on_upstream_writable(self, writable: bool) -> None:
        pass


def mirror_payload(head_lines: bytes, host: bytes, body: bytes) -> bytes:
    """The mirrored request: Envoy appends ``-shadow`` to the host."""
    framing = b"content-length: %d\r\n" % len(body) if body else b""
    return head_lines + b"host: " + host + b"-shadow\r\n" + framing + b"\r\n" + body
