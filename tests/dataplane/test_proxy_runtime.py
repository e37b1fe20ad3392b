"""The proxy runtime around requests: access logs, weighted endpoints, injected sockets.

Covers the one JSON access-log line per request, weighted round robin over a cluster's
endpoints (load_balancing_weight) and listener sockets handed in by a socket factory (the seam
a worker pool uses to share SO_REUSEPORT sockets). Routing and protocol behaviour are tested in
their own modules.
"""

from __future__ import annotations

import json
import socket
from collections import Counter
from pathlib import Path

from envoy.config.accesslog.v3 import accesslog_pb2
from envoy.extensions.access_loggers.file.v3 import file_pb2

from dataplane.config import XdsResources, compile_config
from dataplane.proxy import Proxy
from tests.dataplane import resources as r
from tests.dataplane.client import Connection, fetch, get
from tests.dataplane.conftest import PROXY_HOST, Backends, Serve, free_port


async def test_one_json_access_log_line_per_request(
    serve: Serve, backends: Backends, tmp_path: Path
) -> None:
    web = await backends("web")
    log_path = tmp_path / "access.log"
    entry = accesslog_pb2.AccessLog(name="envoy.access_loggers.file")
    entry.typed_config.Pack(file_pb2.FileAccessLog(path=str(log_path)))
    host, port = await serve(
        r.to_cluster("web", "/in"), clusters={"web": [web]}, access_log=[entry]
    )
    connection = await Connection.open(host, port)
    await connection.request(get("/in/a?x=1", headers={"User-Agent": "tester"}))
    await connection.request(get("/out"))
    await connection.close()
    lines = [json.loads(line) for line in log_path.read_text().splitlines()]
    assert [(line["path"], line["response_code"]) for line in lines] == [
        ("/in/a?x=1", 200),
        ("/out", 404),
    ]
    first = lines[0]
    assert first["route_name"] == "web/in" and first["upstream_cluster"] == "web"
    assert first["user_agent"] == "tester" and first["method"] == "GET"
    assert len(first["request_id"]) == 36


async def test_endpoint_weights_shape_round_robin(proxy: Proxy, backends: Backends) -> None:
    heavy, light = await backends("heavy"), await backends("light")
    port = free_port()
    resources = XdsResources(
        listeners={"l": r.listener("l", PROXY_HOST, port, "rc")},
        route_configs={"rc": r.route_config("rc", r.vhost("v", ["*"], r.to_cluster("web")))},
        clusters={"web": r.cluster("web")},
        load_assignments={
            "web": r.load_assignment(
                "web", (heavy.host, heavy.port, 3), (light.host, light.port, 1)
            )
        },
    )
    config = compile_config(resources)
    await proxy.apply(config)
    connection = await Connection.open(PROXY_HOST, port)
    seen: Counter[str] = Counter()
    for _ in range(40):
        seen[(await connection.request(get("/"))).json()["backend"]] += 1
    await connection.close()
    assert seen == {"heavy": 30, "light": 10}


async def test_listener_sockets_can_be_handed_in(backends: Backends) -> None:
    web = await backends("web")
    port = free_port()
    handed: list[socket.socket] = []

    def shared_socket(host: str, wanted_port: int) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, wanted_port))
        handed.append(sock)
        return sock

    proxy = Proxy(socket_factory=shared_socket)
    try:
        await proxy.apply(
            r.compiled(
                [r.listener("l", PROXY_HOST, port, "rc")],
                [r.route_config("rc", r.vhost("v", ["*"], r.to_cluster("web")))],
                {"web": [(web.host, web.port)]},
            )
        )
        assert len(handed) == 1
        assert (await fetch(PROXY_HOST, port, get("/"))).status == 200
    finally:
        await proxy.close()
