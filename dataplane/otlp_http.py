"""OTLP/HTTP export: each batch is one protobuf POST, over one keep-alive HTTP/1.1 connection
that the exporter keeps to its collector (over TLS when the collector's cluster has an
UpstreamTlsContext), so a busy proxy does not pay a connect and a handshake per batch.

The connection is replaced when the endpoint or its TLS context changes, when the collector
answers ``Connection: close`` (or HTTP/1.0 without keep-alive), when it closed the connection
while idle, and after any failure. A collector may also close an idle connection just as a
request leaves on it; so when a reused connection ends before the first byte of an answer, the
request goes once more on a fresh connection, never a third time, and a fresh connection's
failure fails the export.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httptools

from dataplane.config.tls_context import UpstreamTls
from dataplane.errors import SpanExportError
from dataplane.grpc_unary import MAX_READS, MAX_RESPONSE_BYTES
from dataplane.upstream.endpoint import Endpoint
from dataplane.upstream.tls import open_stream

READ_SIZE = 65536
# Endpoint, and the TLS settings its connection was made with (None: cleartext).
_Key = tuple[str, int, UpstreamTls | None, object]


class _Unanswered(EOFError):
    """The connection ended (closed or reset) before any byte of the answer."""


class _Answer:
    """One response, parsed: its status and whether the connection stays open matter; the
    body is counted, not kept."""

    def __init__(self) -> None:
        self.parser: Any = httptools.HttpResponseParser(self)
        self.headers_complete = False
        self.complete = False
        self.keep_alive = False
        self.body_size = 0

    def on_headers_complete(self) -> None:
        self.headers_complete = True

    def on_body(self, data: bytes) -> None:
        self.body_size += len(data)
        if self.body_size > MAX_RESPONSE_BYTES:
            raise EOFError("answer too large")

    def on_message_complete(self) -> None:
        self.complete = True
        # The parser forgets this once the message is over.
        self.keep_alive = self.parser.should_keep_alive()


class _Connection:
    def __init__(
        self, key: _Key, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.key = key
        self.reader = reader
        self.writer = writer

    def is_open(self) -> bool:
        return not self.writer.is_closing() and not self.reader.at_eof()


class CollectorConnection:
    """One exporter's connection to its OTLP/HTTP collector; one POST at a time."""

    def __init__(self) -> None:
        self._connection: _Connection | None = None

    async def post(self, endpoint: Endpoint, authority: bytes, path: bytes, payload: bytes) -> int:
        """Send ``payload`` (an ExportTraceServiceRequest) to ``endpoint``; the answer's HTTP
        status. Raises ``SpanExportError`` when no answer comes."""
        request = b"".join(
            (
                b"POST " + path + b" HTTP/1.1\r\nhost: " + authority + b"\r\n",
                b"content-type: application/x-protobuf\r\n",
                b"content-length: %d\r\n\r\n" % len(payload),
                payload,
            )
        )
        tls = endpoint.tls
        # A new context (rotated trust or client certificate) must not reuse the connection.
        key = (endpoint.host, endpoint.port, tls, tls.context if tls is not None else None)
        try:
            connection = self._reusable(key)
            if connection is not None:
                try:
                    return await self._exchange(connection, request)
                except _Unanswered:
                    self.close()  # the collector closed it meanwhile: once more, afresh
            connection = await self._open(endpoint, key)
            return await self._exchange(connection, request)
        except (OSError, EOFError, httptools.HttpParserError) as error:
            self.close()
            where = f"{endpoint.host}:{endpoint.port}"
            reason = str(error) or type(error).__name__
            raise SpanExportError(f"collector {where}: {reason}") from None
        except BaseException:  # cancelled (the export's timeout): the connection's state is unknown
            self.close()
            raise

    def close(self) -> None:
        if self._connection is not None:
            self._connection.writer.close()
            self._connection = None

    def _reusable(self, key: _Key) -> _Connection | None:
        connection = self._connection
        if connection is None:
            return None
        if connection.key == key and connection.is_open():
            return connection
        self.close()
        return None

    async def _open(self, endpoint: Endpoint, key: _Key) -> _Connection:
        reader, writer = await open_stream(endpoint)
        connection = self._connection = _Connection(key, reader, writer)
        ssl_object = writer.get_extra_info("ssl_object")
        if ssl_object is not None and ssl_object.selected_alpn_protocol() == "h2":
            raise EOFError("the collector chose HTTP/2 (ALPN h2); OTLP/HTTP here is HTTP/1.1")
        return connection

    async def _exchange(self, connection: _Connection, request: bytes) -> int:
        answer = _Answer()
        received = False
        try:
            connection.writer.write(request)
            await connection.writer.drain()
            for _ in range(MAX_READS):
                data = await connection.reader.read(READ_SIZE)
                if not data:
                    break
                received = True
                answer.parser.feed_data(data)
                if answer.complete:
                    break
            else:
                raise EOFError("no answer within the read bound")
        except ConnectionError as error:
            if received:
                raise
            raise _Unanswered(str(error) or type(error).__name__) from None
        if not received:
            raise _Unanswered("the connection closed before the answer")
        if not answer.complete and not answer.headers_complete:
            raise EOFError("the connection closed within the answer's head")
        # A body that ends with the connection: its status is all the export needs.
        if not answer.keep_alive:
            self.close()
        return int(answer.parser.get_status_code())
