"""agw's CEL transformation beyond header values: ``body`` and the ``response`` variable.

Covers response header expressions that read the upstream's status code and headers,
response bodies replaced by CEL (the upstream's Content-Type kept, a new Content-Length,
the upstream body dropped; HTTP/1.1 and HTTP/2 clients), request bodies replaced by CEL
(Content-Length and chunked client bodies, the client's body dropped), a body expression
that fails leaving the body alone, a local reply (a direct response) seeing its own
status as ``response.code``, and ``source``/``destination`` carrying the connection's
addresses and ports. Leaves out translation (golden files) and Envoy (which has no
CEL transformation filter; the policy status says so).
"""

from __future__ import annotations

import json
from typing import Any

import httpx
from envoy.config.route.v3.route_components_pb2 import Route

from agwproto.agw.filters.v1alpha1 import transformation_pb2
from dataplane.proxy import Proxy
from tests.dataplane import resources as r
from tests.dataplane.client import fetch, request_bytes
from tests.dataplane.conftest import Backends, serve_web
from tests.dataplane.test_policy_auth import TRANSFORMATION, auth_listener

Header = transformation_pb2.HeaderExpression
Transform = transformation_pb2.Transform


def _transformed(route: Any, request: Any = None, response: Any = None) -> Any:
    config = transformation_pb2.TransformationPerRoute()
    if request is not None:
        config.request.CopyFrom(request)
    if response is not None:
        config.response.CopyFrom(response)
    route.typed_per_filter_config[TRANSFORMATION].Pack(config)
    return route


RESPONSE_HEADERS = Transform(
    set=[
        Header(name="x-status", expression="string(response.code)"),
        Header(name="x-upstream-type", expression="response.headers['content-type']"),
    ]
)
RESPONSE_BODY = Transform(
    body="'status ' + string(response.code) + ' for ' + request.path",
    set=[Header(name="x-replaced", expression="'yes'")],
)
PEERS = Transform(
    set=[
        Header(name="x-source", expression="source.address + ':' + string(source.port)"),
        Header(
            name="x-destination", expression="destination.address + ':' + string(destination.port)"
        ),
    ]
)
REQUEST_BODY = Transform(body="'new body for ' + request.method + ' ' + metadata.who")
REQUEST_BODY.metadata["who"] = "request.headers['x-who']"


def _direct(prefix: str, status: int, body: str) -> Any:
    route = Route(name=f"direct{prefix}")
    route.match.prefix = prefix
    route.direct_response.status = status
    route.direct_response.body.inline_string = body
    return route


def _routes() -> Any:
    return r.route_config(
        "rc",
        r.vhost(
            "v",
            ["*"],
            _transformed(r.to_cluster("web", "/headers"), response=RESPONSE_HEADERS),
            _transformed(r.to_cluster("web", "/body"), response=RESPONSE_BODY),
            _transformed(r.to_cluster("web", "/upload"), request=REQUEST_BODY),
            _transformed(r.to_cluster("web", "/peers"), request=PEERS),
            _transformed(
                r.to_cluster("web", "/broken"), request=Transform(body="request.headers['no']")
            ),
            _transformed(_direct("/direct", 418, "teapot"), response=RESPONSE_HEADERS),
        ),
    )


async def _serve(proxy: Proxy, backends: Backends) -> tuple[str, int, Any]:
    web = await backends("web")
    address = await serve_web(proxy, web, auth_listener(), _routes())
    return address[0], address[1], web


async def test_response_expressions_see_the_upstream_response(
    proxy: Proxy, backends: Backends
) -> None:
    host, port, _ = await _serve(proxy, backends)
    response = await fetch(
        host, port, request_bytes("GET", "/headers", headers={"x-backend-status": "503"})
    )
    assert response.status == 503
    assert response.header("x-status") == "503"
    assert response.header("x-upstream-type") == "application/json"
    assert json.loads(response.body)["target"] == "/headers"


async def test_a_response_body_expression_replaces_the_upstream_body(
    proxy: Proxy, backends: Backends
) -> None:
    host, port, web = await _serve(proxy, backends)
    expected = b"status 201 for /body"
    response = await fetch(
        host, port, request_bytes("GET", "/body", headers={"x-backend-status": "201"})
    )
    assert (response.status, response.body) == (201, expected)
    assert response.header("content-length") == str(len(expected))
    assert response.header("content-type") == "application/json"
    assert response.header("x-replaced") == "yes"
    # The connection stays usable for the next request (chunked upstream body dropped).
    chunked = await fetch(
        host, port, request_bytes("GET", "/body", headers={"x-backend-chunks": "3"})
    )
    assert chunked.body == b"status 200 for /body"
    async with httpx.AsyncClient(http1=False, http2=True) as client:
        over_h2 = await client.get(f"http://{host}:{port}/body")
    assert over_h2.http_version == "HTTP/2"
    assert over_h2.content == b"status 200 for /body"
    assert len(web.received) == 3


async def test_a_request_body_expression_replaces_the_client_body(
    proxy: Proxy, backends: Backends
) -> None:
    host, port, web = await _serve(proxy, backends)
    sized = await fetch(
        host, port, request_bytes("POST", "/upload", headers={"x-who": "ann"}, body=b"old" * 500)
    )
    assert sized.status == 200
    assert web.received[0].body == b"new body for POST ann"
    assert web.received[0].header("content-length") == str(len(b"new body for POST ann"))
    chunked_body = b"5\r\nhello\r\n0\r\n\r\n"
    chunked = await fetch(
        host,
        port,
        request_bytes(
            "PUT",
            "/upload",
            headers={"x-who": "bo", "transfer-encoding": "chunked"},
            body=chunked_body,
        ),
    )
    assert chunked.status == 200
    assert web.received[1].body == b"new body for PUT bo"
    assert web.received[1].header("transfer-encoding") is None
    bodiless = await fetch(host, port, request_bytes("GET", "/upload", headers={"x-who": "cy"}))
    assert bodiless.status == 200
    assert web.received[2].body == b"new body for GET cy"


async def test_a_failing_body_expression_leaves_the_body_alone(
    proxy: Proxy, backends: Backends
) -> None:
    host, port, web = await _serve(proxy, backends)
    response = await fetch(host, port, request_bytes("POST", "/broken", body=b"kept"))
    assert response.status == 200
    assert web.received[0].body == b"kept"


async def test_a_local_reply_is_the_response_expressions_see(
    proxy: Proxy, backends: Backends
) -> None:
    host, port, web = await _serve(proxy, backends)
    response = await fetch(host, port, request_bytes("GET", "/direct"))
    assert (response.status, response.body) == (418, b"teapot")
    assert response.header("x-status") == "418"
    assert response.header("x-upstream-type") is None
    assert not web.received


async def test_source_and_destination_are_the_connections_ends(
    proxy: Proxy, backends: Backends
) -> None:
    host, port, _ = await _serve(proxy, backends)
    response = await fetch(host, port, request_bytes("GET", "/peers"))
    headers = dict(json.loads(response.body)["headers"])
    source_address, _, source_port = headers["x-source"].rpartition(":")
    assert source_address == "127.0.0.1" and int(source_port) > 0
    assert headers["x-destination"] == f"{host}:{port}"
