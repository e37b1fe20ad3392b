"""Unary gRPC calls over HTTP/2 (the h2 state machine on an asyncio stream), for the services
the proxy asks per request: external authorization, rate limiting.

Cleartext, or TLS when the service's cluster has an UpstreamTlsContext (the backends' client
context, SNI and subject-alt-name check: ``dataplane.upstream.tls``). A failure to get an
answer (connect error, failed handshake or certificate check, reset, timeout, a malformed
reply) raises ``GrpcCallError``. Connections are kept per endpoint and reused one call at a
time, so a busy route does not pay a handshake per request.
"""

from __future__ import annotations

import asyncio
import struct
from collections import deque
from dataclasses import dataclass, field

import h2.config
import h2.connection
import h2.events
import h2.exceptions

from dataplane.config.tls_context import UpstreamTls
from dataplane.errors import GrpcCallError
from dataplane.upstream.endpoint import Endpoint
from dataplane.upstream.tls import open_stream

MAX_RESPONSE_BYTES = 1 << 20
# Bounds the events read for one call; a call needs a handful.
MAX_READS = 10_000
IDLE_PER_ENDPOINT = 8

Fields = list[tuple[bytes, bytes]]
# Endpoint, and the TLS settings its connections were made with (None: cleartext).
_Key = tuple[str, int, UpstreamTls | None, object]


@dataclass(frozen=True, slots=True)
class GrpcAnswer:
    status: int
    headers: Fields = field(default_factory=list)
    # The response message, without gRPC framing.
    body: bytes = b""
    trailers: Fields = field(default_factory=list)


class _H2Connection:
    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, scheme: bytes
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.scheme = scheme
        self.h2 = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=True, header_encoding=None)
        )
        self.h2.initiate_connection()
        self.broken = False

    async def flush(self) -> None:
        data = self.h2.data_to_send()
        if data:
            self.writer.write(data)
            await self.writer.drain()

    def close(self) -> None:
        self.writer.close()


class GrpcUnaryClient:
    """Unary calls to services' endpoints, connections reused."""

    def __init__(self) -> None:
        self._idle: dict[_Key, deque[_H2Connection]] = {}

    async def call(
        self, endpoint: Endpoint, authority: bytes, path: bytes, message: bytes
    ) -> GrpcAnswer:
        """The service's answer to ``message`` (serialized) on method ``path``, from
        ``endpoint`` (over TLS when its cluster has an UpstreamTlsContext)."""
        tls = endpoint.tls
        # A new context (rotated trust or client certificate) must not reuse old connections.
        key = (endpoint.host, endpoint.port, tls, tls.context if tls is not None else None)
        connection = self._take(key)
        try:
            if connection is None:
                reader, writer = await open_stream(endpoint)
                connection = _H2Connection(reader, writer, b"https" if tls else b"http")
            answer = await _unary(connection, authority, path, message)
        except (OSError, EOFError, h2.exceptions.H2Error, asyncio.IncompleteReadError) as error:
            if connection is not None:
                connection.close()
            raise GrpcCallError(f"gRPC service {endpoint.host}:{endpoint.port}: {error}") from None
        except BaseException:
            if connection is not None:  # cancelled (timeout): the stream state is unknown
                connection.close()
            raise
        idle = self._idle.setdefault(key, deque()) if not connection.broken else None
        if idle is None or len(idle) >= IDLE_PER_ENDPOINT:
            connection.close()
        else:
            idle.append(connection)
        return answer

    def _take(self, key: _Key) -> _H2Connection | None:
        """An idle connection for ``key``; keys without one are dropped, so endpoints and
        contexts of old configs do not accumulate."""
        idle = self._idle.get(key)
        if not idle:
            return None
        connection = idle.pop()
        if not idle:
            del self._idle[key]
        return connection

    def close(self) -> None:
        for idle in self._idle.values():
            for connection in idle:
                connection.close()
        self._idle.clear()


async def _unary(
    connection: _H2Connection, authority: bytes, path: bytes, message: bytes
) -> GrpcAnswer:
    conn = connection.h2
    stream_id = conn.get_next_available_stream_id()
    conn.send_headers(
        stream_id,
        [
            (b":method", b"POST"),
            (b":scheme", connection.scheme),
            (b":path", path),
            (b":authority", authority),
            (b"content-type", b"application/grpc"),
            (b"te", b"trailers"),
        ],
    )
    pending = b"\x00" + struct.pack(">I", len(message)) + message
    headers: Fields = []
    trailers: Fields = []
    body = bytearray()
    for _ in range(MAX_READS):
        if pending:
            window = min(conn.local_flow_control_window(stream_id), conn.max_outbound_frame_size)
            if window > 0:
                chunk, pending = pending[:window], pending[window:]
                conn.send_data(stream_id, chunk, end_stream=not pending)
        await connection.flush()
        data = await connection.reader.read(65536)
        if not data:
            raise EOFError("connection closed before the answer")
        for event in conn.receive_data(data):
            if isinstance(event, h2.events.ResponseReceived) and event.stream_id == stream_id:
                headers = list(event.headers)
            elif isinstance(event, h2.events.DataReceived) and event.stream_id == stream_id:
                body += event.data
                conn.acknowledge_received_data(event.flow_controlled_length, stream_id)
                if len(body) > MAX_RESPONSE_BYTES:
                    raise EOFError("answer too large")
            elif isinstance(event, h2.events.TrailersReceived) and event.stream_id == stream_id:
                trailers = list(event.headers)
            elif isinstance(event, h2.events.StreamReset) and event.stream_id == stream_id:
                raise EOFError(f"stream reset ({event.error_code})")
            elif isinstance(event, h2.events.ConnectionTerminated):
                connection.broken = True
                raise EOFError("connection terminated")
            elif isinstance(event, h2.events.StreamEnded) and event.stream_id == stream_id:
                await connection.flush()
                return _grpc_answer(headers, bytes(body), trailers)
    raise EOFError("no answer within the read bound")


def _grpc_answer(headers: Fields, body: bytes, trailers: Fields) -> GrpcAnswer:
    status = next((int(v) for k, v in headers if k == b":status"), 0)
    if status != 200:
        raise EOFError(f"HTTP status {status} from a gRPC service")
    if len(body) < 5:
        # Trailers-only answers carry grpc-status in the headers and no message.
        return GrpcAnswer(200, headers, b"", trailers or headers)
    (length,) = struct.unpack(">I", body[1:5])
    return GrpcAnswer(200, headers, body[5 : 5 + length], trailers)


def grpc_status(answer: GrpcAnswer) -> int:
    value = next((v for k, v in answer.trailers if k == b"grpc-status"), None)
    if value is None:
        raise GrpcCallError("gRPC answer without grpc-status")
    return int(value)
