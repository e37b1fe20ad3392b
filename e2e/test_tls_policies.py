"""End to end: TLS policies and CORS, on both data planes.

Covers a BackendTLSPolicy to a TLS echo backend (served, with the policy's hostname as SNI)
and one whose hostname the backend's certificate lacks (refused with a 5xx that is not 504);
Gateway frontend validation AllowValidOnly (no client certificate: the handshake fails; one
from the CA: 200); the CORS filter (preflight answered at the gateway, headers on a simple
request); and 421 for an HTTP/2 request whose :authority belongs to another HTTPS listener than
the connection's SNI. Leaves out mutual TLS to backends and AllowInsecureFallback (covered by
tests/dataplane against the Python proxy only).
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h2.config
import h2.connection
import h2.events
import httpx
import pytest
import trustme

from controlplane.echo.server import serve_echo
from e2e import manifests as m
from e2e.conftest import NAMESPACE, SHARED_GATEWAY, Scenario
from e2e.harness import eventually
from e2e.test_routing import to

TLS_BACKEND = "127.0.62.1:9443"
BACKEND_NAME = "web.internal.example.com"
FRONTEND_PORT = 9443


class TlsEcho:
    """`agw echo` with a certificate, in a background thread."""

    def __init__(self, address: str, cert: Path, key: Path) -> None:
        self.address = address
        self.cert = cert
        self.key = key
        self.ready = threading.Event()
        self.error: BaseException | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.stop: asyncio.Event | None = None
        self.thread = threading.Thread(target=self._run, name="tls-echo", daemon=True)

    def __enter__(self) -> TlsEcho:
        self.thread.start()
        if not self.ready.wait(10) or self.error is not None:
            raise RuntimeError(f"the TLS echo server did not start: {self.error!r}")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.loop is not None and self.stop is not None:
            self.loop.call_soon_threadsafe(self.stop.set)
        self.thread.join(10)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except OSError as error:
            self.error = error
            self.ready.set()

    async def _main(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.stop = asyncio.Event()
        async with serve_echo(
            [self.address], name="tls-echo", tls_cert=self.cert, tls_key=self.key
        ):
            self.ready.set()
            await self.stop.wait()


@pytest.fixture(scope="module")
def backend_ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def tls_echo(backend_ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    directory = tmp_path_factory.mktemp("tls-echo")
    issued = backend_ca.issue_cert(BACKEND_NAME)
    cert, key = directory / "tls.crt", directory / "tls.key"
    cert.write_bytes(b"".join(blob.bytes() for blob in issued.cert_chain_pems))
    key.write_bytes(issued.private_key_pem.bytes())
    with TlsEcho(TLS_BACKEND, cert, key):
        yield


def config_map(name: str, ca: trustme.CA) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "data": {"ca.crt": ca.cert_pem.bytes().decode()},
    }


def backend_tls_policy(name: str, service: str, hostname: str) -> dict[str, Any]:
    return {
        "apiVersion": m.GATEWAY_API,
        "kind": "BackendTLSPolicy",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "targetRefs": [{"group": "", "kind": "Service", "name": service}],
            "validation": {
                "caCertificateRefs": [{"group": "", "kind": "ConfigMap", "name": "backend-ca"}],
                "hostname": hostname,
            },
        },
    }


def shared_route(name: str, host: str, rule: dict[str, Any]) -> dict[str, Any]:
    return m.http_route(name, NAMESPACE, [rule], [{"name": SHARED_GATEWAY}], [host])


def test_backend_tls_policy(scenario: Scenario, backend_ca: trustme.CA, tls_echo: None) -> None:
    good, bad = "btls.example.com", "btls-mismatch.example.com"
    scenario.apply(
        "backend-tls",
        config_map("backend-ca", backend_ca),
        *m.service("tls-web", NAMESPACE, [TLS_BACKEND]),
        *m.service("tls-web-mismatch", NAMESPACE, [TLS_BACKEND]),
        backend_tls_policy("tls-web", "tls-web", BACKEND_NAME),
        backend_tls_policy("tls-web-mismatch", "tls-web-mismatch", "other.internal.example.com"),
        shared_route("btls", good, to("tls-web")),
        shared_route("btls-mismatch", bad, to("tls-web-mismatch")),
    )
    body = scenario.eventually_status(good, "/", 200).json()
    assert body["tls"]["sni"] == BACKEND_NAME

    def refused() -> int | None:
        status = scenario.get(bad, "/").status_code
        return status if status >= 500 else None

    status = eventually(refused, what="the mismatched backend refused")
    assert status != 504
    assert scenario.get(bad, "/").status_code == status


@pytest.fixture
def frontend_gateway(scenario: Scenario, tmp_path: Path) -> Iterator[tuple[str, trustme.CA]]:
    client_ca, server_ca = trustme.CA(), trustme.CA()
    server = server_ca.issue_cert("mtls.example.com")
    gateway = m.gateway(
        "frontend",
        NAMESPACE,
        [m.https_listener("https", FRONTEND_PORT, ["frontend-cert"], "mtls.example.com")],
    )
    gateway["spec"]["tls"] = {
        "frontend": {
            "default": {
                "validation": {
                    "caCertificateRefs": [{"group": "", "kind": "ConfigMap", "name": "client-ca"}]
                }
            }
        }
    }
    scenario.apply(
        "frontend",
        gateway,
        m.tls_secret(
            "frontend-cert",
            NAMESPACE,
            server.cert_chain_pems[0].bytes(),
            server.private_key_pem.bytes(),
        ),
        config_map("client-ca", client_ca),
        m.http_route(
            "frontend", NAMESPACE, [to("echo-1")], [{"name": "frontend"}], ["mtls.example.com"]
        ),
    )
    scenario.gw.wait_condition("Gateway", NAMESPACE, "frontend", "Programmed")
    yield scenario.gw.address_of(NAMESPACE, "frontend"), client_ca


def client_status(address: str, client_ca: trustme.CA | None) -> int | None:
    """The status of GET / with a certificate from ``client_ca`` (None: without one); None
    when TLS fails, in the handshake or (TLS 1.3) when the server's alert arrives."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    if client_ca is not None:
        client_ca.issue_cert("client.example.com").configure_cert(context)
    try:
        with httpx.Client(verify=context, timeout=5) as client:
            return client.get(
                f"https://{address}:{FRONTEND_PORT}/",
                headers={"host": "mtls.example.com"},
                extensions={"sni_hostname": "mtls.example.com"},
            ).status_code
    except httpx.TransportError:
        return None


def test_frontend_validation_allow_valid_only(
    scenario: Scenario, frontend_gateway: tuple[str, trustme.CA]
) -> None:
    address, client_ca = frontend_gateway
    eventually(lambda: client_status(address, client_ca) == 200, what="a valid client served")
    assert client_status(address, None) is None
    assert client_status(address, trustme.CA()) is None


def test_cors_preflight_and_simple_request(scenario: Scenario) -> None:
    host, origin = "cors.example.com", "https://app.example.com"
    rule = to("echo-1")
    rule["filters"] = [
        {
            "type": "CORS",
            "cors": {
                "allowOrigins": [origin],
                "allowMethods": ["GET", "POST"],
                "allowHeaders": ["x-token"],
                "exposeHeaders": ["x-request-id"],
                "maxAge": 600,
                "allowCredentials": True,
            },
        }
    ]
    scenario.apply("cors", shared_route("cors", host, rule))
    preflight_headers = {"origin": origin, "access-control-request-method": "POST"}
    preflight = eventually(
        lambda: (
            (r := scenario.request("OPTIONS", host, "/", headers=preflight_headers)).headers.get(
                "access-control-allow-origin"
            )
            == origin
            and r
        ),
        what="the preflight answered",
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-methods"] == "GET, POST"
    assert preflight.headers["access-control-allow-headers"] == "x-token"
    assert preflight.headers["access-control-max-age"] == "600"
    assert preflight.headers["access-control-allow-credentials"] == "true"
    simple = scenario.get(host, "/", headers={"origin": origin})
    assert simple.status_code == 200
    assert simple.headers["access-control-allow-origin"] == origin
    assert simple.headers["access-control-expose-headers"] == "x-request-id"
    other = scenario.get(host, "/", headers={"origin": "https://evil.example.net"})
    assert "access-control-allow-origin" not in other.headers


@pytest.fixture
def coalescing_gateway(scenario: Scenario) -> Iterator[str]:
    ca = trustme.CA()
    docs: list[dict[str, Any]] = []
    listeners = []
    for name in ("a", "b"):
        cert = ca.issue_cert(f"{name}.example")
        docs.append(
            m.tls_secret(
                f"coalesce-{name}",
                NAMESPACE,
                cert.cert_chain_pems[0].bytes(),
                cert.private_key_pem.bytes(),
            )
        )
        listeners.append(
            m.https_listener(name, FRONTEND_PORT, [f"coalesce-{name}"], f"{name}.example")
        )
    scenario.apply(
        "coalescing",
        m.gateway("coalescing", NAMESPACE, listeners),
        *docs,
        m.http_route("coalescing", NAMESPACE, [to("echo-1")], [{"name": "coalescing"}]),
    )
    scenario.gw.wait_condition("Gateway", NAMESPACE, "coalescing", "Programmed")
    yield scenario.gw.address_of(NAMESPACE, "coalescing")


def h2_status(address: str, server_name: str, authority: str) -> int | None:
    """One HTTP/2 GET over a connection opened with ``server_name`` as SNI; None when the
    connection fails or ends without a response."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(["h2"])
    try:
        with (
            socket.create_connection((address, FRONTEND_PORT), timeout=5) as raw,
            context.wrap_socket(raw, server_hostname=server_name) as tls,
        ):
            connection = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
            connection.initiate_connection()
            connection.send_headers(
                1,
                [
                    (":method", "GET"),
                    (":scheme", "https"),
                    (":authority", authority),
                    (":path", "/"),
                ],
                end_stream=True,
            )
            tls.sendall(connection.data_to_send())
            for _ in range(100):
                data = tls.recv(65536)
                if not data:
                    return None
                for event in connection.receive_data(data):
                    if isinstance(event, h2.events.ResponseReceived):
                        return int(dict(event.headers)[b":status"])
                tls.sendall(connection.data_to_send())
    except OSError:
        return None
    return None


def test_misdirected_request_on_a_coalesced_connection(
    scenario: Scenario, coalescing_gateway: str
) -> None:
    eventually(
        lambda: h2_status(coalescing_gateway, "a.example", "a.example") == 200,
        what="a.example served over h2",
    )
    assert h2_status(coalescing_gateway, "a.example", "b.example") == 421
    assert h2_status(coalescing_gateway, "b.example", "b.example") == 200
