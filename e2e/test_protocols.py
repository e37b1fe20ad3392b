"""End to end: protocols. HTTPS with several certificates chosen by SNI, HTTP/2 clients (ALPN
over TLS and prior knowledge on plain HTTP), h2c backends (appProtocol kubernetes.io/h2c) and
WebSocket upgrades through to a kubernetes.io/ws backend."""

from __future__ import annotations

import base64
import os
import socket
import ssl
from collections.abc import Iterator

import httpx
import pytest
import trustme

from e2e import manifests as m
from e2e.conftest import NAMESPACE, Scenario
from e2e.harness import eventually
from e2e.test_routing import route, to

TLS_GATEWAY = "tls"
TLS_PORT = 8443


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls_gateway(scenario: Scenario, ca: trustme.CA) -> Iterator[str]:
    docs = []
    listeners = []
    for name in ("a", "b"):
        cert = ca.issue_cert(f"{name}.tls.example.com")
        docs.append(
            m.tls_secret(
                f"tls-{name}",
                NAMESPACE,
                cert.cert_chain_pems[0].bytes(),
                cert.private_key_pem.bytes(),
            )
        )
        listeners.append(
            m.https_listener(name, TLS_PORT, [f"tls-{name}"], f"{name}.tls.example.com")
        )
    fallback = ca.issue_cert("fallback.tls.example.com")
    docs.append(
        m.tls_secret(
            "tls-fallback",
            NAMESPACE,
            fallback.cert_chain_pems[0].bytes(),
            fallback.private_key_pem.bytes(),
        )
    )
    listeners.append(m.https_listener("any", TLS_PORT, ["tls-fallback"]))
    scenario.apply("tls-gateway", m.gateway(TLS_GATEWAY, NAMESPACE, listeners), *docs)
    scenario.apply(
        "tls-routes",
        m.http_route(
            "tls-a", NAMESPACE, [to("echo-1")], [{"name": TLS_GATEWAY, "sectionName": "a"}]
        ),
        m.http_route(
            "tls-b", NAMESPACE, [to("echo-2")], [{"name": TLS_GATEWAY, "sectionName": "b"}]
        ),
        m.http_route(
            "tls-any", NAMESPACE, [to("echo-3")], [{"name": TLS_GATEWAY, "sectionName": "any"}]
        ),
    )
    scenario.gw.wait_condition("Gateway", NAMESPACE, TLS_GATEWAY, "Programmed")
    yield scenario.gw.address_of(NAMESPACE, TLS_GATEWAY)


def peer_common_name(address: str, sni: str, ca: trustme.CA) -> str:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    context.check_hostname = False
    with (
        socket.create_connection((address, TLS_PORT), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=sni) as tls,
    ):
        cert = tls.getpeercert()
    subject = dict(item[0] for item in cert["subject"]) if cert.get("subject") else {}
    names = [value for kind, value in cert.get("subjectAltName", ()) if kind == "DNS"]
    return str(subject.get("commonName") or names[0])


def https_get(address: str, host: str, ca: trustme.CA, *, http2: bool = False) -> httpx.Response:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    with httpx.Client(verify=context, http2=http2, timeout=10) as client:
        return client.get(
            f"https://{address}:{TLS_PORT}/",
            headers={"host": host},
            extensions={"sni_hostname": host},
        )


def test_https_certificates_by_sni(scenario: Scenario, tls_gateway: str, ca: trustme.CA) -> None:
    eventually(
        lambda: https_get(tls_gateway, "a.tls.example.com", ca).status_code == 200,
        what="HTTPS served",
    )
    assert "a.tls.example.com" in peer_common_name(tls_gateway, "a.tls.example.com", ca)
    assert "b.tls.example.com" in peer_common_name(tls_gateway, "b.tls.example.com", ca)
    assert "fallback" in peer_common_name(tls_gateway, "unknown.example.org", ca)
    assert https_get(tls_gateway, "a.tls.example.com", ca).json()["address"] == "127.0.61.1:9000"
    assert https_get(tls_gateway, "b.tls.example.com", ca).json()["address"] == "127.0.61.2:9000"


def test_http2_over_tls(scenario: Scenario, tls_gateway: str, ca: trustme.CA) -> None:
    response = eventually(
        lambda: (
            (r := https_get(tls_gateway, "a.tls.example.com", ca, http2=True)).status_code == 200
            and r
        ),
        what="h2 served",
    )
    assert response.http_version == "HTTP/2"
    assert response.json()["address"] == "127.0.61.1:9000"


def test_http2_prior_knowledge_on_plain_http(scenario: Scenario) -> None:
    host = "h2pk.example.com"
    scenario.apply("h2pk", route("h2pk", host, [to("echo-1")]))
    scenario.eventually_status(host, "/", 200)
    with httpx.Client(http1=False, http2=True, timeout=10) as client:
        response = client.get(scenario.base_url() + "/x", headers={"host": host})
    assert response.http_version == "HTTP/2"
    assert response.json()["path"] == "/x"


def test_h2c_backend(scenario: Scenario) -> None:
    host = "h2c.example.com"
    scenario.apply(
        "h2c",
        *m.service("echo-h2c", NAMESPACE, ["127.0.61.4:9000"], app_protocol="kubernetes.io/h2c"),
        route("h2c", host, [to("echo-h2c")]),
    )
    body = scenario.eventually_status(host, "/", 200).json()
    assert body["protocol"] == "HTTP/2"


def test_websocket_upgrade(scenario: Scenario) -> None:
    host = "ws.example.com"
    scenario.apply(
        "ws",
        *m.service("echo-ws", NAMESPACE, ["127.0.61.5:9000"], app_protocol="kubernetes.io/ws"),
        route("ws", host, [to("echo-ws")]),
    )
    scenario.eventually_status(host, "/", 200)
    address = scenario.base_url().removeprefix("http://").rpartition(":")[0]
    assert (
        websocket_echo(address, 8080, host, b"hello over the gateway") == b"hello over the gateway"
    )


def websocket_echo(address: str, port: int, host: str, payload: bytes) -> bytes:
    """A minimal RFC 6455 client: handshake, one masked text frame, read the echo."""
    key = base64.b64encode(os.urandom(16)).decode()
    with socket.create_connection((address, port), timeout=5) as sock:
        sock.sendall(
            (
                f"GET /ws HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(4096)
            assert chunk, "connection closed during the handshake"
            head += chunk
        assert head.startswith(b"HTTP/1.1 101"), head
        rest = head.split(b"\r\n\r\n", 1)[1]
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        sock.sendall(bytes([0x81, 0x80 | len(payload)]) + mask + masked)
        data = rest
        while len(data) < 2 or len(data) < 2 + (data[1] & 0x7F):
            chunk = sock.recv(4096)
            assert chunk, "connection closed before the echo"
            data += chunk
        assert data[0] == 0x81
        return data[2 : 2 + (data[1] & 0x7F)]
