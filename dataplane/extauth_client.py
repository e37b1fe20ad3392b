"""Clients for external authorization services: gRPC ``Authorization/Check`` over HTTP/2
(``dataplane.grpc_unary``), and HTTP/1.1; either over TLS when the service's cluster has an
UpstreamTlsContext.

Each asks one endpoint and returns an ``AuthAnswer``; a failure to get an answer (connect
error, failed handshake or certificate check, reset, timeout, a malformed reply) raises
``AuthServiceError`` and the filter applies its ``status_on_error``. gRPC connections are kept
per endpoint and reused one call at a time, so a busy route does not pay a handshake per
request.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httptools

from dataplane.errors import AuthServiceError, GrpcCallError
from dataplane.grpc_unary import MAX_READS, MAX_RESPONSE_BYTES, GrpcAnswer, GrpcUnaryClient
from dataplane.upstream.endpoint import Endpoint
from dataplane.upstream.tls import open_stream

CHECK_PATH = b"/envoy.service.auth.v3.Authorization/Check"

Fields = list[tuple[bytes, bytes]]


# An authorization service's answer, gRPC or HTTP: status, headers, body, trailers.
AuthAnswer = GrpcAnswer


class GrpcAuthClient:
    """``Authorization/Check`` calls to an authorization service's endpoints."""

    def __init__(self) -> None:
        self._client = GrpcUnaryClient()

    async def check(self, endpoint: Endpoint, authority: bytes, message: bytes) -> AuthAnswer:
        """The service's answer: gRPC status in trailers, the CheckResponse in ``body``."""
        try:
            answer = await self._client.call(endpoint, authority, CHECK_PATH, message)
        except GrpcCallError as error:
            raise AuthServiceError(f"authorization service: {error}") from None
        return answer

    def close(self) -> None:
        self._client.close()


def grpc_status(answer: AuthAnswer) -> int:
    value = next((v for k, v in answer.trailers if k == b"grpc-status"), None)
    if value is None:
        raise AuthServiceError("gRPC answer without grpc-status")
    return int(value)


class _ResponseReader:
    """httptools callbacks collecting one response."""

    def __init__(self) -> None:
        self.headers: Fields = []
        self.body = bytearray()
        self.complete = False

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.lower(), value))

    def on_body(self, data: bytes) -> None:
        self.body += data
        if len(self.body) > MAX_RESPONSE_BYTES:
            raise AuthServiceError("answer too large")

    def on_message_complete(self) -> None:
        self.complete = True


async def http_check(endpoint: Endpoint, request: bytes) -> AuthAnswer:
    """Send ``request`` (a whole HTTP/1.1 request, ``connection: close``) to ``endpoint`` and
    read the answer (over TLS when its cluster has an UpstreamTlsContext)."""
    writer: asyncio.StreamWriter | None = None
    try:
        reader, writer = await open_stream(endpoint)
        ssl_object = writer.get_extra_info("ssl_object")
        if ssl_object is not None and ssl_object.selected_alpn_protocol() == "h2":
            raise EOFError("the service chose HTTP/2 (ALPN h2); this client speaks HTTP/1.1")
        writer.write(request)
        await writer.drain()
        collected = _ResponseReader()
        parser: Any = httptools.HttpResponseParser(collected)
        for _ in range(MAX_READS):
            data = await reader.read(65536)
            parser.feed_data(data)
            if collected.complete:
                break
            if not data:
                raise EOFError("connection closed before the answer")
        else:
            raise EOFError("no answer within the read bound")
        return AuthAnswer(parser.get_status_code(), collected.headers, bytes(collected.body))
    except (OSError, EOFError, httptools.HttpParserError) as error:
        raise AuthServiceError(f"service {endpoint.host}:{endpoint.port}: {error}") from None
    finally:
        if writer is not None:
            writer.close()
