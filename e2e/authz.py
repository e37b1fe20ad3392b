"""External authorization services for end-to-end scenarios, each in its own thread: a gRPC
``envoy.service.auth.v3.Authorization`` service and a plain HTTP one. Both allow a request
carrying ``authorization: Bearer good`` (adding ``x-auth-user: alice`` for the backend, and
the gRPC one ``GRPC_METADATA`` as dynamic metadata) and deny anything else with their own
status and body; both remember every check they answered."""

from __future__ import annotations

import threading
from concurrent import futures
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
from envoy.config.core.v3 import base_pb2
from envoy.service.auth.v3 import external_auth_pb2
from envoy.type.v3 import http_status_pb2
from google.rpc import code_pb2, status_pb2

GOOD_TOKEN = "Bearer good"
USER_HEADER = "x-auth-user"
GRPC_DENIED_BODY = "denied by grpc authz"
HTTP_DENIED_BODY = "denied by http authz"
HTTP_DENIED_STATUS = 401
# Headers an allowing HTTP service returns that the route does not allow upstream.
HTTP_EXTRA_HEADER = "x-auth-extra"
# The gRPC service's ``dynamic_metadata`` when it allows a request.
GRPC_METADATA = {"user": "alice", "groups": ["dev", "ops"]}


@dataclass(frozen=True, slots=True)
class Check:
    """One authorization check as the service saw it; header names lower-case."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    # The gRPC CheckRequest's context_extensions.
    context: dict[str, str] = field(default_factory=dict)


class GrpcAuthz:
    """Authorization/Check on ``address`` ("IP:0" picks a port; see ``port``)."""

    def __init__(self, address: str) -> None:
        self.checks: list[Check] = []
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        handler = grpc.unary_unary_rpc_method_handler(
            self._check,
            request_deserializer=external_auth_pb2.CheckRequest.FromString,
            response_serializer=external_auth_pb2.CheckResponse.SerializeToString,
        )
        self.server.add_generic_rpc_handlers(
            (
                grpc.method_handlers_generic_handler(
                    "envoy.service.auth.v3.Authorization", {"Check": handler}
                ),
            )
        )
        self.port = self.server.add_insecure_port(address)

    def _check(self, request: Any, context: grpc.ServicerContext) -> Any:
        http = request.attributes.request.http
        headers = {name.lower(): value for name, value in http.headers.items()}
        body = http.raw_body or http.body.encode()
        context = dict(request.attributes.context_extensions)
        self.checks.append(Check(http.method, http.path, headers, body, context))
        if headers.get("authorization") == GOOD_TOKEN:
            allowed = external_auth_pb2.CheckResponse(
                status=status_pb2.Status(code=code_pb2.OK),
                ok_response=external_auth_pb2.OkHttpResponse(
                    headers=[
                        base_pb2.HeaderValueOption(
                            header=base_pb2.HeaderValue(key=USER_HEADER, value="alice")
                        )
                    ]
                ),
            )
            allowed.dynamic_metadata.update(GRPC_METADATA)
            return allowed
        return external_auth_pb2.CheckResponse(
            status=status_pb2.Status(code=code_pb2.PERMISSION_DENIED),
            denied_response=external_auth_pb2.DeniedHttpResponse(
                status=http_status_pb2.HttpStatus(code=http_status_pb2.Forbidden),
                body=GRPC_DENIED_BODY,
            ),
        )

    def __enter__(self) -> GrpcAuthz:
        self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop(grace=1).wait(5)


class _HttpHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _answer(self) -> None:
        server: Any = self.server
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {name.lower(): value for name, value in self.headers.items()}
        server.checks.append(Check(self.command, self.path, headers, body))
        if headers.get("authorization") == GOOD_TOKEN:
            self.send_response(200)
            self.send_header(USER_HEADER, "alice")
            self.send_header(HTTP_EXTRA_HEADER, "not-for-upstream")
            self.send_header("content-length", "0")
            self.end_headers()
            return
        denied = HTTP_DENIED_BODY.encode()
        self.send_response(HTTP_DENIED_STATUS)
        self.send_header("www-authenticate", 'Bearer realm="e2e"')
        self.send_header("content-type", "text/plain")
        self.send_header("content-length", str(len(denied)))
        self.end_headers()
        self.wfile.write(denied)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = _answer

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: pytest shows failures, not every check."""


class HttpAuthz:
    """An HTTP authorization service on ``(host, port)``: 200 allows, 401 denies."""

    def __init__(self, address: tuple[str, int]) -> None:
        self.server = ThreadingHTTPServer(address, _HttpHandler)
        self.server.daemon_threads = True
        self.checks: list[Check] = []
        self.server.checks = self.checks  # type: ignore[attr-defined]
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )

    def __enter__(self) -> HttpAuthz:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)
