"""Backends for stream, datagram and gRPC scenarios, each in its own thread: a TCP echo that
prefixes its name, a UDP echo that does the same, a TLS server (the backend terminates, for
passthrough), and a gRPC service with unary and bidirectional-streaming methods."""

from __future__ import annotations

import socket
import socketserver
import ssl
import threading
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc

MAX_MESSAGE = 65536


class _TcpHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        server: Any = self.server
        sock: socket.socket = self.request
        if server.tls_context is not None:
            sock = server.tls_context.wrap_socket(sock, server_side=True)
        for _ in range(10_000):  # bounded: one reply per received chunk
            data = sock.recv(MAX_MESSAGE)
            if not data:
                return
            sock.sendall(server.name.encode() + b":" + data)


class _ThreadingTcp(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class _UdpHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        data, sock = self.request
        sock.sendto(self.server.name.encode() + b":" + data, self.client_address)  # type: ignore[attr-defined]


class StreamEcho:
    """TCP (optionally TLS-terminating) or UDP echo on ``address``, answering "NAME:data"."""

    def __init__(
        self,
        name: str,
        address: tuple[str, int],
        *,
        udp: bool = False,
        tls: tuple[Path, Path] | None = None,
    ) -> None:
        self.name = name
        server_class: Any = socketserver.ThreadingUDPServer if udp else _ThreadingTcp
        self.server = server_class(address, _UdpHandler if udp else _TcpHandler)
        self.server.name = name
        context = None
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
        self.server.tls_context = context
        self.address = self.server.server_address
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )

    def __enter__(self) -> StreamEcho:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)


def _unary(name: str) -> Any:
    def handler(request: bytes, context: grpc.ServicerContext) -> bytes:
        metadata = dict(context.invocation_metadata())
        context.set_trailing_metadata((("x-served-by", name),))
        return f"{name}:{metadata.get('x-tenant', '-')}:".encode() + request

    return handler


def _stream(name: str) -> Any:
    def handler(requests: Iterator[bytes], context: grpc.ServicerContext) -> Iterator[bytes]:
        for request in requests:
            yield name.encode() + b":" + request

    return handler


def _identity(data: bytes) -> bytes:
    return data


class GrpcEcho:
    """A gRPC server for service ``echo.Echo`` (methods Unary and Stream) on raw bytes."""

    def __init__(self, name: str, address: str) -> None:
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        handlers = {
            "Unary": grpc.unary_unary_rpc_method_handler(_unary(name), _identity, _identity),
            "Stream": grpc.stream_stream_rpc_method_handler(_stream(name), _identity, _identity),
        }
        self.server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler("echo.Echo", handlers),)
        )
        self.port = self.server.add_insecure_port(address)

    def __enter__(self) -> GrpcEcho:
        self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop(grace=1).wait(5)
