"""The proxy's side of AgentgatewayPolicy backend and frontend settings.

Covers: the translator's output for the agwpolicy-backend-conn and agwpolicy-frontend-conn
golden cases compiles (cluster keepalive, consecutive-5xx outlier detection, upstream ALPN,
listener keepalive socket options, TLS parameters, handshake deadline, CEL access log); an
endpoint answering 5xx is ejected after consecutive_5xx answers; a TLS backend with an
untrusted certificate is reached when the cluster has no validation context (insecure skip
verify); a listener requiring TLS 1.3 refuses a TLS 1.2 client; keepalive socket options land
on the sockets; a CEL filter and CEL attributes shape access-log lines; unsupported variants
are NACKed. Leaves out Envoy (e2e/test_agw_policy_conn.py) and keepalive probing on the wire.
"""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
from pathlib import Path
from typing import Any

import pytest
import trustme
from envoy.config.accesslog.v3 import accesslog_pb2
from envoy.config.core.v3 import socket_option_pb2
from envoy.extensions.access_loggers.file.v3 import file_pb2
from envoy.extensions.access_loggers.filters.cel.v3 import cel_pb2
from envoy.extensions.transport_sockets.tls.v3 import common_pb2, tls_pb2

from dataplane.config import XdsResources, compile_config
from dataplane.config.connection import Keepalive
from dataplane.config.runtime import RuntimeConfig
from dataplane.errors import ConfigRejected
from dataplane.keepalive import enable_keepalive
from dataplane.proxy import Proxy
from tests.dataplane import resources as r
from tests.dataplane.backend import EchoBackend
from tests.dataplane.client import fetch, get
from tests.dataplane.conftest import PROXY_HOST, Backends
from tests.dataplane.test_backend_tls import server_context as backend_context
from tests.dataplane.test_backend_tls import start_backend

TESTDATA = Path(__file__).resolve().parent.parent / "translator" / "testdata" / "xds"


def translated(case: str) -> RuntimeConfig:
    from translator.loader import load_paths
    from translator.translate import translate
    from translator.xds import type_urls

    result = translate(load_paths([TESTDATA / f"{case}.in.yaml"]).resource_set())
    (resources,) = result.xds.values()
    by_type = dict(resources.by_type_url())
    return compile_config(
        XdsResources(
            listeners=by_type.get(type_urls.LISTENER, {}),
            route_configs=by_type.get(type_urls.ROUTE_CONFIGURATION, {}),
            clusters=by_type.get(type_urls.CLUSTER, {}),
            load_assignments=by_type.get(type_urls.CLUSTER_LOAD_ASSIGNMENT, {}),
            secrets=by_type.get(type_urls.SECRET, {}),
        )
    )


def test_backend_case_compiles() -> None:
    cluster = translated("agwpolicy-backend-conn").clusters["service/default/web/8080"]
    assert cluster.keepalive == Keepalive(probes=3, idle=30, interval=5)
    assert cluster.outlier.consecutive_5xx == 2
    assert cluster.outlier.base_ejection == 20.0
    assert cluster.tls is not None and cluster.tls.alpn == ("h2",)
    assert cluster.tls.context is not None  # CA and client certificate resolved
    assert cluster.http2 and cluster.connect_timeout == 2.0


def test_frontend_case_compiles() -> None:
    listeners = translated("agwpolicy-frontend-conn").listeners
    https = listeners["default/gw/443"]
    assert https.connection.keepalive == Keepalive(probes=4, idle=60, interval=10)
    assert https.connection.handshake_timeout == 5.0
    assert https.buffer_limit == 65536
    (chain,) = https.filter_chains
    assert chain.tls is not None and chain.tls.params is not None
    assert (chain.tls.params.min_version, chain.tls.params.max_version) == ("1.3", "1.3")
    assert chain.tls.alpn == ("http/1.1",)
    http = chain.http
    assert (http.max_headers_count, http.max_request_headers_bytes) == (50, 10 * 1024)
    assert http.idle_timeout == 30.0 and http.http2.stream_window == 1048576
    shape = http.access_log_shape
    assert shape is not None and shape.filter is not None and shape.fields is not None
    assert "user_agent" not in dict(shape.fields) and "agent" in dict(shape.fields)


def outlier_cluster(name: str, consecutive_5xx: int) -> Any:
    cluster = r.cluster(name)
    detection = cluster.outlier_detection
    detection.consecutive_5xx.value = consecutive_5xx
    detection.interval.FromSeconds(1)
    detection.base_ejection_time.FromSeconds(30)
    detection.max_ejection_percent.value = 50
    return cluster


async def test_endpoint_answering_5xx_is_ejected(proxy: Proxy, backends: Backends) -> None:
    failing = await backends("failing")
    failing.fail_first = 1000
    healthy = await backends("healthy")
    config = r.compiled(
        [r.listener("l", PROXY_HOST, 0, "rc")],
        [r.route_config("rc", r.vhost("v", ["*"], r.to_cluster("c")))],
        {"c": [(failing.host, failing.port), (healthy.host, healthy.port)]},
        cluster_protos=[outlier_cluster("c", 2)],
    )
    await proxy.apply(config)
    address = proxy.address_of("l")
    assert address is not None
    statuses = [(await fetch(*address, get("/"))).status for _ in range(12)]
    # Round robin reaches the failing endpoint twice, then it is out for 30 s.
    assert statuses.count(503) == 2
    assert statuses[-6:] == [200] * 6
    assert len(failing.received) == 2


async def test_without_consecutive_5xx_answers_do_not_eject(
    proxy: Proxy, backends: Backends
) -> None:
    failing = await backends("failing")
    failing.fail_first = 1000
    healthy = await backends("healthy")
    config = r.compiled(
        [r.listener("l", PROXY_HOST, 0, "rc")],
        [r.route_config("rc", r.vhost("v", ["*"], r.to_cluster("c")))],
        {"c": [(failing.host, failing.port), (healthy.host, healthy.port)]},
    )
    await proxy.apply(config)
    address = proxy.address_of("l")
    assert address is not None
    statuses = [(await fetch(*address, get("/"))).status for _ in range(6)]
    assert statuses.count(503) == 3


async def test_insecure_cluster_accepts_an_untrusted_backend(proxy: Proxy) -> None:
    backend = await start_backend(backend_context(trustme.CA(), "elsewhere.example"))
    cluster = r.cluster("c")
    context = tls_pb2.UpstreamTlsContext(sni="web.example.com")
    context.common_tls_context.alpn_protocols.append("http/1.1")
    cluster.transport_socket.name = "envoy.transport_sockets.tls"
    cluster.transport_socket.typed_config.Pack(context)
    try:
        config = r.compiled(
            [r.listener("l", PROXY_HOST, 0, "rc")],
            [r.route_config("rc", r.vhost("v", ["*"], r.to_cluster("c")))],
            {"c": [(backend.host, backend.port)]},
            cluster_protos=[cluster],
        )
        await proxy.apply(config)
        address = proxy.address_of("l")
        assert address is not None
        assert (await fetch(*address, get("/"))).status == 200
        assert backend.server_names == ["web.example.com"]
    finally:
        await backend.stop()


def tls13_listener(port: int, *, ciphers: tuple[str, ...] = ()) -> Any:
    listener = r.tls_listener("l", PROXY_HOST, port, [([], "cert", "rc")])
    chain = listener.filter_chains[0]
    context = tls_pb2.DownstreamTlsContext()
    chain.transport_socket.typed_config.Unpack(context)
    params = context.common_tls_context.tls_params
    params.tls_minimum_protocol_version = common_pb2.TlsParameters.TLSv1_3
    params.cipher_suites.extend(ciphers)
    chain.transport_socket.typed_config.Pack(context)
    chain.transport_socket_connect_timeout.FromSeconds(3)
    return listener


def tls_config(listener: Any, ca: trustme.CA) -> RuntimeConfig:
    certificate = ca.issue_cert("www.example.com")
    return compile_config(
        XdsResources(
            listeners={"l": listener},
            route_configs={"rc": r.route_config("rc", r.vhost("v", ["*"]))},
            clusters={},
            load_assignments={},
            secrets={
                "cert": r.tls_secret(
                    "cert",
                    certificate.cert_chain_pems[0].bytes(),
                    certificate.private_key_pem.bytes(),
                )
            },
        ),
        "1",
    )


async def handshake(address: tuple[str, int], ca: trustme.CA, maximum: ssl.TLSVersion) -> str:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ca.configure_trust(context)
    context.maximum_version = maximum
    _, writer = await asyncio.wait_for(
        asyncio.open_connection(*address, ssl=context, server_hostname="www.example.com"), 5
    )
    try:
        version = writer.get_extra_info("ssl_object").version()
        return str(version)
    finally:
        writer.close()


async def test_tls13_listener_refuses_tls12_clients(proxy: Proxy) -> None:
    ca = trustme.CA()
    await proxy.apply(tls_config(tls13_listener(0), ca))
    address = proxy.address_of("l")
    assert address is not None
    assert await handshake(address, ca, ssl.TLSVersion.TLSv1_3) == "TLSv1.3"
    # A protocol_version alert, or the connection dropped: either way no TLS 1.2 session.
    with pytest.raises((ssl.SSLError, ConnectionError)):
        await handshake(address, ca, ssl.TLSVersion.TLSv1_2)


async def test_unknown_cipher_suite_is_rejected(proxy: Proxy) -> None:
    config = tls_config(tls13_listener(0, ciphers=("NO-SUCH-CIPHER",)), trustme.CA())
    with pytest.raises(ConfigRejected, match="cipher_suites"):
        await proxy.apply(config)


def keepalive_options(*options: tuple[int, int, int]) -> list[Any]:
    return [
        socket_option_pb2.SocketOption(level=level, name=name, int_value=value)
        for level, name, value in options
    ]


def test_keepalive_socket_options_compile_and_apply() -> None:
    listener = r.listener("l", PROXY_HOST, 0, "rc")
    listener.socket_options.extend(keepalive_options((1, 9, 1), (6, 4, 42), (6, 6, 3)))
    config = r.compiled([listener], [r.route_config("rc", r.vhost("v", ["*"]))])
    keepalive = config.listeners["l"].connection.keepalive
    assert keepalive == Keepalive(probes=3, idle=42, interval=None)
    with socket.socket() as sock:
        enable_keepalive(sock, keepalive)
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 42
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT) == 3


def test_other_socket_options_are_nacked() -> None:
    listener = r.listener("l", PROXY_HOST, 0, "rc")
    listener.socket_options.extend(keepalive_options((1, 2, 1)))  # SO_REUSEADDR
    with pytest.raises(ConfigRejected, match="socket_options"):
        r.compiled([listener], [r.route_config("rc", r.vhost("v", ["*"]))])


async def test_listener_keepalive_reaches_the_listening_socket(proxy: Proxy) -> None:
    listener = r.listener("l", PROXY_HOST, 0, "rc")
    listener.socket_options.extend(keepalive_options((1, 9, 1), (6, 5, 7)))
    await proxy.apply(r.compiled([listener], [r.route_config("rc", r.vhost("v", ["*"]))]))
    (bound,) = proxy.listeners.values()
    assert bound.server is not None
    (sock,) = bound.server.sockets
    assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
    assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL) == 7


def cel_access_log(path: Path, expression: str) -> Any:
    entry = accesslog_pb2.AccessLog(name="envoy.access_loggers.file")
    entry.typed_config.Pack(file_pb2.FileAccessLog(path=str(path)))
    entry.filter.extension_filter.name = "envoy.access_loggers.extension_filters.cel"
    entry.filter.extension_filter.typed_config.Pack(cel_pb2.ExpressionFilter(expression=expression))
    return entry


def stdout_access_log(fields: dict[str, str]) -> Any:
    from envoy.extensions.access_loggers.stream.v3 import stream_pb2

    log = stream_pb2.StdoutAccessLog()
    log.log_format.json_format.update(fields)
    entry = accesslog_pb2.AccessLog(name="envoy.access_loggers.stdout")
    entry.typed_config.Pack(log)
    return entry


async def test_cel_filter_keeps_only_matching_requests(
    proxy: Proxy, backends: Backends, tmp_path: Path
) -> None:
    backend: EchoBackend = await backends("web")
    log_path = tmp_path / "access.log"
    config = r.compiled(
        [
            r.listener(
                "l",
                PROXY_HOST,
                0,
                "rc",
                access_log=[cel_access_log(log_path, 'request.path.startsWith("/keep")')],
            )
        ],
        [r.route_config("rc", r.vhost("v", ["*"], r.to_cluster("c")))],
        {"c": [(backend.host, backend.port)]},
    )
    await proxy.apply(config)
    address = proxy.address_of("l")
    assert address is not None
    for path in ("/drop", "/keep/1", "/drop/2", "/keep/3"):
        assert (await fetch(*address, get(path))).status == 200
    lines = [json.loads(line) for line in log_path.read_text().splitlines()]
    assert [line["path"] for line in lines] == ["/keep/1", "/keep/3"]


def test_json_format_with_cel_attributes_compiles() -> None:
    entry = stdout_access_log(
        {"code": "%RESPONSE_CODE%", "agent": '%CEL(request.headers["user-agent"])%'}
    )
    listener = r.listener("l", PROXY_HOST, 0, "rc", access_log=[entry])
    config = r.compiled([listener], [r.route_config("rc", r.vhost("v", ["*"]))])
    shape = config.listeners["l"].filter_chains[0].http.access_log_shape
    assert shape is not None and shape.fields is not None
    assert dict(shape.fields)["code"] == "response_code"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"x": "%BYTES_SENT%"}, "json_format.x"),
        ({"x": "%CEL(request.path ==)%"}, "json_format.x"),
    ],
)
def test_unsupported_log_formats_are_nacked(fields: dict[str, str], message: str) -> None:
    listener = r.listener("l", PROXY_HOST, 0, "rc", access_log=[stdout_access_log(fields)])
    with pytest.raises(ConfigRejected, match=message):
        r.compiled([listener], [r.route_config("rc", r.vhost("v", ["*"]))])
