"""End to end, on both data planes: phase-3 connection settings and Gateway backend mTLS.

Covers a Gateway frontend policy requiring the PROXY protocol (a client sending a v1 or v2
header is served and the access log names the header's client address; a client without one
is disconnected), and GEP-3155 backend mutual TLS: a Gateway's spec.tls.backend
clientCertificateRef with a BackendTLSPolicy to a backend that requires client certificates
from its own CA (200 with the certificate; a 5xx that is not 504 from a Gateway whose
certificate that CA did not sign); the frontend's http2FrameSize advertised, and a 30,000-byte
HTTP/2 DATA frame accepted. Leaves out the parser's edge cases and the optional mode
(tests/dataplane/test_policy_conn2.py).
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from typing import Any

import h2.config
import h2.connection
import pytest
import trustme

from dataplane.proxy_protocol import encode_v2
from e2e import manifests as m
from e2e.conftest import NAMESPACE, Scenario
from e2e.harness import eventually
from e2e.test_agw_policy_conn import (
    Backend,
    gateway_target,
    logged_lines,
    mutual_tls_backend,
    pem_secret,
    policy,
)
from e2e.test_routing import route, to
from e2e.test_tls_policies import config_map

MTLS_BACKEND = ("127.0.66.11", 9443)
DEFAULT_FRAME_SIZE = 16384
BACKEND_NAME = "mtls.conn2.internal"
PORT = 8080


def raw_exchange(address: str, data: bytes) -> bytes:
    """Send ``data`` and read until the gateway closes the connection (or 5 s pass)."""
    with socket.create_connection((address, PORT), timeout=5) as sock:
        sock.sendall(data)
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except (TimeoutError, ConnectionResetError):
            pass
        return received


def request(host: str, path: str, marker: str) -> bytes:
    return (
        f"GET {path} HTTP/1.1\r\nhost: {host}\r\nx-marker: {marker}\r\nconnection: close\r\n\r\n"
    ).encode()


def test_proxy_protocol_names_the_client(scenario: Scenario) -> None:
    name, host = "conn2-pp", "pp.conn2.example.com"
    scenario.apply(
        name,
        m.gateway(name, NAMESPACE, [m.http_listener("http", PORT)]),
        route(name, host, [to("echo-1")], [{"name": name}]),
        policy(
            name,
            gateway_target(name),
            frontend={
                "proxyProtocol": {"mode": "Strict"},
                "accessLog": {
                    "attributes": {
                        "add": [{"name": "marker", "expression": 'request.headers["x-marker"]'}]
                    }
                },
            },
        ),
    )
    scenario.gw.wait_condition("Gateway", NAMESPACE, name, "Programmed")
    address = scenario.gw.address_of(NAMESPACE, name)
    run = uuid.uuid4().hex
    v1 = f"PROXY TCP4 192.0.2.10 {address} 5555 {PORT}\r\n".encode()
    v2 = encode_v2(("192.0.2.20", 6000), (address, PORT))

    def served(header: bytes, marker: str) -> bool:
        return raw_exchange(address, header + request(host, "/", marker)).startswith(
            b"HTTP/1.1 200"
        )

    eventually(lambda: served(v1, f"{run}-v1"), what="a PROXY v1 client served")
    assert served(v2, f"{run}-v2")
    assert raw_exchange(address, request(host, "/", f"{run}-none")) == b""
    pid = scenario.gw.process.pid

    def logged() -> dict[str, str] | None:
        lines = logged_lines(pid, name, run)
        found = {line["marker"]: str(line["downstream_remote_address"]) for line in lines}
        return found if {f"{run}-v1", f"{run}-v2"} <= found.keys() else None

    found = eventually(logged, what="access-log lines for both PROXY clients")
    assert found[f"{run}-v1"].startswith("192.0.2.10")
    assert found[f"{run}-v2"].startswith("192.0.2.20")
    assert f"{run}-none" not in found


@pytest.fixture(scope="module")
def mtls_cas() -> tuple[trustme.CA, trustme.CA]:
    """(the backend's server CA, the CA whose client certificates the backend accepts)."""
    return trustme.CA(), trustme.CA()


@pytest.fixture(scope="module")
def mtls_backend(mtls_cas: tuple[trustme.CA, trustme.CA]) -> Iterator[Backend]:
    with mutual_tls_backend(MTLS_BACKEND, BACKEND_NAME, *mtls_cas) as backend:
        yield backend


def backend_gateway(name: str, secret: str) -> dict[str, Any]:
    gateway = m.gateway(name, NAMESPACE, [m.http_listener("http", PORT)])
    gateway["spec"]["tls"] = {"backend": {"clientCertificateRef": {"name": secret}}}
    return gateway


def backend_tls_policy(service: str) -> dict[str, Any]:
    return {
        "apiVersion": m.GATEWAY_API,
        "kind": "BackendTLSPolicy",
        "metadata": {"name": service, "namespace": NAMESPACE},
        "spec": {
            "targetRefs": [{"group": "", "kind": "Service", "name": service}],
            "validation": {
                "caCertificateRefs": [
                    {"group": "", "kind": "ConfigMap", "name": "conn2-backend-ca"}
                ],
                "hostname": BACKEND_NAME,
            },
        },
    }


def test_gateway_backend_client_certificate(
    scenario: Scenario, mtls_cas: tuple[trustme.CA, trustme.CA], mtls_backend: Backend
) -> None:
    server_ca, client_ca = mtls_cas
    trusted, untrusted = "conn2-mtls", "conn2-mtls-untrusted"
    host = "mtls.conn2.example.com"
    scenario.apply(
        "conn2-mtls",
        config_map("conn2-backend-ca", server_ca),
        pem_secret(trusted, client_ca.issue_cert("gateway.conn2.example.com")),
        pem_secret(untrusted, trustme.CA().issue_cert("stranger.conn2.example.com")),
        backend_gateway(trusted, trusted),
        backend_gateway(untrusted, untrusted),
        *m.service("conn2-mtls", NAMESPACE, [f"{MTLS_BACKEND[0]}:{MTLS_BACKEND[1]}"]),
        backend_tls_policy("conn2-mtls"),
        route(trusted, host, [to("conn2-mtls")], [{"name": trusted}, {"name": untrusted}]),
    )
    for gateway in (trusted, untrusted):
        scenario.gw.wait_condition("Gateway", NAMESPACE, gateway, "Programmed")
    body = scenario.eventually_status(host, "/", 200, gateway=trusted).json()
    assert body["client_names"] == ["gateway.conn2.example.com"]

    def refused() -> int | None:
        status = scenario.get(host, "/", gateway=untrusted).status_code
        return status if status >= 500 else None

    status = eventually(refused, what="the backend refusing the untrusted gateway")
    assert status != 504


def test_backend_auth_sets_the_authorization_header(scenario: Scenario) -> None:
    keyed, secret = "key.conn2.example.com", "secret.conn2.example.com"
    scenario.apply(
        "conn2-auth",
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "conn2-token", "namespace": NAMESPACE},
            "type": "Opaque",
            "stringData": {"Authorization": "Bearer from-secret"},
        },
        *m.service("conn2-auth", NAMESPACE, ["127.0.61.3:9000"]),
        route("conn2-key", keyed, [to("echo-3")]),
        route("conn2-secret", secret, [to("conn2-auth")]),
        policy(
            "conn2-key",
            {"group": m.GATEWAY_API.split("/")[0], "kind": "HTTPRoute", "name": "conn2-key"},
            backend={"auth": {"key": "Bearer fixed"}},
        ),
        policy(
            "conn2-secret",
            {"group": "", "kind": "Service", "name": "conn2-auth"},
            backend={"auth": {"secretRef": "conn2-token"}},
        ),
    )
    client_token = {"authorization": "Bearer from-client"}

    def seen(host: str, expected: str) -> bool:
        response = scenario.get(host, "/", headers=client_token)
        return response.status_code == 200 and (
            response.json()["headers"].get("authorization") == expected
        )

    eventually(lambda: seen(keyed, "Bearer fixed"), what="the fixed key sent to the backend")
    eventually(lambda: seen(secret, "Bearer from-secret"), what="the Secret's key sent")


def h2_post_with_large_frame(address: str, host: str, size: int) -> tuple[int, set[str]]:
    """Over cleartext HTTP/2, POST a body in one DATA frame of ``size`` bytes; the frame size
    the gateway advertised, and the events that followed."""
    client = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    client.initiate_connection()
    names: set[str] = set()
    with socket.create_connection((address, PORT), timeout=5) as sock:
        sock.sendall(client.data_to_send())
        # The gateway's SETTINGS come first; one read normally holds them.
        for _ in range(10):
            client.receive_data(sock.recv(65536))
            if client.remote_settings.max_frame_size != DEFAULT_FRAME_SIZE:
                break
        sock.sendall(client.data_to_send())
        advertised = client.remote_settings.max_frame_size
        headers = [(":method", "POST"), (":path", "/"), (":scheme", "http")]
        client.send_headers(1, [*headers, (":authority", host)])
        frame = size.to_bytes(3, "big") + bytes((0x0, 0x1)) + (1).to_bytes(4, "big")
        sock.sendall(client.data_to_send() + frame + b"x" * size)
        for _ in range(100):
            try:
                chunk = sock.recv(65536)
            except (TimeoutError, ConnectionResetError):
                break
            if not chunk:
                break
            names |= {type(event).__name__ for event in client.receive_data(chunk)}
            sock.sendall(client.data_to_send())
            if names & {"StreamEnded", "ConnectionTerminated", "StreamReset"}:
                break
    return advertised, names


def test_http2_frame_size(scenario: Scenario) -> None:
    name, host = "conn2-frame", "frame.conn2.example.com"
    scenario.apply(
        name,
        m.gateway(name, NAMESPACE, [m.http_listener("http", PORT)]),
        route(name, host, [to("echo-2")], [{"name": name}]),
        policy(name, gateway_target(name), frontend={"http": {"http2FrameSize": 65536}}),
    )
    scenario.gw.wait_condition("Gateway", NAMESPACE, name, "Programmed")
    address = scenario.gw.address_of(NAMESPACE, name)

    def served() -> tuple[int, set[str]] | None:
        found = h2_post_with_large_frame(address, host, 30_000)
        return found if "StreamEnded" in found[1] else None

    advertised, _ = eventually(served, what="a 30,000-byte HTTP/2 frame accepted")
    assert advertised == 65536
