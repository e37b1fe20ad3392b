"""h2c upstreams: clusters whose HttpProtocolOptions ask for HTTP/2, as the translator emits
them for appProtocol kubernetes.io/h2c, end to end against real HTTP/2 backends.

Covers compiling the protocol options (and refusing what is not implemented), streams from
HTTP/1.1 and HTTP/2 clients multiplexed on one pooled connection to agw's echo backend, request
bodies and trailers passed through, a connection the backend closes being replaced, and gRPC
unary calls through the proxy to a grpc.aio server: an answer, trailing metadata, and an error
status carried by a trailers-only response. Codec details are in test_http2_codec.py.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import grpc
import httpx
import pytest
from envoy.config.core.v3 import protocol_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from envoy.extensions.upstreams.http.v3 import http_protocol_options_pb2

from controlplane.echo.server import EchoServer, serve_echo
from dataplane.config.cluster import HTTP_PROTOCOL_OPTIONS, compile_cluster
from dataplane.config.listener import compile_listener
from dataplane.errors import UnsupportedField, UnsupportedValue
from dataplane.http2.pool import Http2Pool
from dataplane.proxy import Proxy
from tests.dataplane import resources as r
from tests.dataplane.client import fetch, request_bytes
from tests.dataplane.conftest import Backends, Serve, free_port
from tests.dataplane.test_http2_proxy import H2Client, request

ECHO_HOST = "127.0.20.3"
GRPC_HOST = "127.0.20.4"


def h2c_cluster(name: str, **http2: Any) -> Any:
    cluster = r.cluster(name)
    options = http_protocol_options_pb2.HttpProtocolOptions()
    options.explicit_http_config.http2_protocol_options.CopyFrom(
        protocol_pb2.Http2ProtocolOptions(**http2)
    )
    cluster.typed_extension_protocol_options[HTTP_PROTOCOL_OPTIONS].Pack(options)
    return cluster


@pytest.fixture
async def echo() -> AsyncIterator[EchoServer]:
    async with serve_echo([f"{ECHO_HOST}:0"], name="h2c") as server:
        yield server


async def h2c_proxy(serve: Serve, echo: EchoServer, route: Any = None) -> tuple[str, int]:
    return await serve(
        route or r.to_cluster("h2c"),
        clusters={"h2c": [echo.addresses[0]]},
        cluster_protos=[h2c_cluster("h2c", max_concurrent_streams={"value": 100})],
    )


def test_protocol_options_compile_and_unknown_ones_are_refused() -> None:
    config = compile_cluster(h2c_cluster("c", initial_stream_window_size={"value": 1 << 20}), None)
    assert (config.http2, config.stream_window, config.max_concurrent_streams) == (
        True,
        1 << 20,
        1024,
    )
    assert compile_cluster(r.cluster("plain"), None).http2 is False
    options = http_protocol_options_pb2.HttpProtocolOptions()
    options.common_http_protocol_options.idle_timeout.FromSeconds(5)
    refused = r.cluster("c")
    refused.typed_extension_protocol_options[HTTP_PROTOCOL_OPTIONS].Pack(options)
    with pytest.raises(UnsupportedField, match="common_http_protocol_options"):
        compile_cluster(refused, None)
    other = r.cluster("c")
    other.typed_extension_protocol_options["envoy.extensions.other"].Pack(options)
    with pytest.raises(UnsupportedValue, match="typed_extension_protocol_options"):
        compile_cluster(other, None)


def test_codec_type_limits_what_alpn_offers() -> None:
    listener = r.tls_listener("tls", "127.0.20.1", 0, [([], "secret", "rc")])
    manager = hcm_pb2.HttpConnectionManager()
    listener.filter_chains[0].filters[0].typed_config.Unpack(manager)
    manager.codec_type = hcm_pb2.HttpConnectionManager.HTTP1
    listener.filter_chains[0].filters[0].typed_config.Pack(manager)
    config, _ = compile_listener(listener)
    tls = config.filter_chains[0].tls
    assert tls is not None and tls.alpn == ("http/1.1",)
    manager.codec_type = hcm_pb2.HttpConnectionManager.HTTP3
    listener.filter_chains[0].filters[0].typed_config.Pack(manager)
    with pytest.raises(UnsupportedValue, match="codec_type"):
        compile_listener(listener)


async def test_streams_are_multiplexed_on_one_upstream_connection(
    proxy: Proxy, serve: Serve, echo: EchoServer
) -> None:
    host, port = await h2c_proxy(serve, echo)
    async with httpx.AsyncClient(http1=False, http2=True) as client:
        h2_answers = await asyncio.gather(
            *(client.get(f"http://{host}:{port}/h2/{i}") for i in range(40))
        )
    h1_answers = await asyncio.gather(
        *(fetch(host, port, request_bytes("GET", f"/h1/{i}")) for i in range(20))
    )
    assert {a.json()["protocol"] for a in h2_answers} == {"HTTP/2"}
    assert {json.loads(a.body)["protocol"] for a in h1_answers} == {"HTTP/2"}
    assert [a.json()["path"] for a in h2_answers] == [f"/h2/{i}" for i in range(40)]
    pools = [p for p in proxy.pools.pools.values() if isinstance(p, Http2Pool)]
    assert len(pools) == 1 and len(pools[0].connections) == 1
    assert echo.requests[echo.addresses[0]] == 60


async def test_bodies_and_request_trailers_pass_through(serve: Serve, echo: EchoServer) -> None:
    host, port = await h2c_proxy(serve, echo)
    client = await H2Client.open(port)
    # Larger than the backend's 4 MiB window: the upstream stream backs up and the client's
    # stream is held until the backend returns window.
    body = b"payload " * 800_000
    stream_id = await client.send(
        request("/upload", b"POST"), body=body, trailers=[(b"x-checksum", b"42")]
    )
    answer = await client.answer(stream_id, timeout=15)
    echoed = json.loads(bytes(answer.body))
    assert answer.status == 200
    assert len(echoed["body"]) == len(body)
    assert echoed["trailers"] == {"x-checksum": "42"}
    await client.close()
    chunked = (
        request_bytes("POST", "/h1-chunked", headers={"Transfer-Encoding": "chunked"})
        + b"3\r\nabc\r\n0\r\n\r\n"
    )
    answer_h1 = await fetch(host, port, chunked)
    assert json.loads(answer_h1.body)["body"] == "abc"


async def test_a_closed_upstream_connection_is_replaced(
    proxy: Proxy, serve: Serve, echo: EchoServer
) -> None:
    host, port = await h2c_proxy(serve, echo)
    assert (await fetch(host, port, request_bytes("GET", "/one"))).status == 200
    pool = next(p for p in proxy.pools.pools.values() if isinstance(p, Http2Pool))
    first = pool.connections[0]
    assert first.transport is not None
    first.transport.close()
    async with asyncio.timeout(5):
        while first in pool.connections:
            await asyncio.sleep(0.01)
    assert (await fetch(host, port, request_bytes("GET", "/two"))).status == 200
    assert pool.connections and pool.connections[0] is not first


async def test_an_unreachable_h2c_endpoint_answers_503(serve: Serve) -> None:
    host, port = await serve(
        r.to_cluster("h2c"),
        clusters={"h2c": [(ECHO_HOST, free_port(ECHO_HOST))]},
        cluster_protos=[h2c_cluster("h2c")],
    )
    async with httpx.AsyncClient(http1=False, http2=True) as client:
        answers = await asyncio.gather(*(client.get(f"http://{host}:{port}/{i}") for i in range(5)))
    assert {answer.status_code for answer in answers} == {503}
    assert b"connection failure" in answers[0].content


async def test_requests_are_mirrored_to_an_h2c_cluster(
    serve: Serve, echo: EchoServer, backends: Backends
) -> None:
    web = await backends("web")
    route = r.to_cluster("web")
    route.route.request_mirror_policies.add(cluster="h2c")
    host, port = await serve(
        route,
        clusters={"web": [web], "h2c": [echo.addresses[0]]},
        cluster_protos=[h2c_cluster("h2c")],
    )
    answer = await fetch(host, port, request_bytes("POST", "/m?x=1", body=b"copy me"))
    assert answer.status == 200
    await echo.wait_for_requests(1)
    assert echo.requests[echo.addresses[0]] == 1


class Greeter:
    """A grpc.aio backend without generated code: raw bytes in, raw bytes out."""

    async def say(self, payload: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
        if payload == b"missing":
            await context.abort(grpc.StatusCode.NOT_FOUND, "no such greeting")
        context.set_trailing_metadata((("x-served-by", "greeter"),))
        return b"hello " + payload


@pytest.fixture
async def grpc_backend() -> AsyncIterator[tuple[str, int]]:
    server = grpc.aio.server()
    handler = grpc.method_handlers_generic_handler(
        "test.Greeter", {"Say": grpc.unary_unary_rpc_method_handler(Greeter().say)}
    )
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port(f"{GRPC_HOST}:0")
    await server.start()
    yield GRPC_HOST, port
    await server.stop(None)


async def test_grpc_unary_calls_through_the_proxy(
    serve: Serve, grpc_backend: tuple[str, int]
) -> None:
    host, port = await serve(
        r.to_cluster("grpc"),
        clusters={"grpc": [grpc_backend]},
        cluster_protos=[h2c_cluster("grpc")],
    )
    async with grpc.aio.insecure_channel(f"{host}:{port}") as channel:
        say = channel.unary_unary("/test.Greeter/Say")
        call = say(b"world", timeout=5)
        assert await call == b"hello world"
        assert ("x-served-by", "greeter") in tuple(await call.trailing_metadata())
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            await say(b"missing", timeout=5)
    assert failed.value.code() == grpc.StatusCode.NOT_FOUND
    assert failed.value.details() == "no such greeting"
