"""End to end, on both data planes: AgentgatewayPolicy backend and frontend settings.

Covers mutual TLS to a backend that requires client certificates, set by a Service-targeted
policy (client certificate from a Secret, CA from a ConfigMap, SNI), and the same backend
refusing the gateway without one; passive health ejecting an endpoint that answers 500 (the
other endpoint then serves every request); a Gateway frontend policy requiring TLS 1.3 (a TLS
1.2 client is refused, a TLS 1.3 client served); and an access log filtered by CEL with a CEL
attribute, read from the proxy's output. Leaves out keepalive, HTTP limits and the handshake
timeout (golden cases and tests/dataplane/test_policy_conn.py).
"""

from __future__ import annotations

import http.server
import json
import os
import ssl
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import trustme

from e2e import manifests as m
from e2e.conftest import NAMESPACE, Scenario
from e2e.harness import eventually
from e2e.test_routing import route, to

MTLS_BACKEND = ("127.0.66.1", 9443)
FAILING_BACKEND = ("127.0.66.2", 9000)
HEALTHY_BACKEND = "127.0.61.2:9000"  # echo-2
BACKEND_NAME = "mtls.backend.internal"
TLS_PORT = 9443


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        server: Any = self.server
        status, body = server.answer(self)
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        return


class Backend:
    """A threaded HTTP server: ``tls`` makes it require a client certificate its CA signed;
    without it every request is answered 500."""

    def __init__(self, address: tuple[str, int], tls: ssl.SSLContext | None = None) -> None:
        self.server = http.server.ThreadingHTTPServer(address, _Handler)
        self.server.daemon_threads = True
        self.requests = 0
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.server.answer = self._answer  # type: ignore[attr-defined]
        self.tls = tls is not None
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )

    def _answer(self, handler: http.server.BaseHTTPRequestHandler) -> tuple[int, Any]:
        self.requests += 1
        if not self.tls:
            return 500, {"failing": True}
        peer = handler.connection.getpeercert()
        subject = dict(item[0] for item in peer.get("subject", ())) if peer else {}
        names = [value for _, value in peer.get("subjectAltName", ())] if peer else []
        return 200, {"client": subject.get("commonName"), "client_names": names}

    def __enter__(self) -> Backend:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def policy(name: str, target: dict[str, Any], **sections: Any) -> dict[str, Any]:
    return m.agw_policy(name, NAMESPACE, target, **sections)


def service_target(name: str) -> dict[str, Any]:
    return m.policy_target("Service", name)


def gateway_target(name: str) -> dict[str, Any]:
    return m.policy_target("Gateway", name)


def pem_secret(name: str, issued: trustme.LeafCert) -> dict[str, Any]:
    return m.tls_secret(
        name,
        NAMESPACE,
        b"".join(blob.bytes() for blob in issued.cert_chain_pems),
        issued.private_key_pem.bytes(),
    )


@pytest.fixture(scope="module")
def cas() -> tuple[trustme.CA, trustme.CA]:
    """(the backend's server CA, the CA the backend trusts for clients)."""
    return trustme.CA(), trustme.CA()


def mutual_tls_backend(
    address: tuple[str, int], name: str, server_ca: trustme.CA, client_ca: trustme.CA
) -> Backend:
    """A backend at ``address`` presenting a certificate for ``name`` from ``server_ca`` and
    requiring a client certificate from ``client_ca``."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ca.issue_cert(name).configure_cert(context)
    client_ca.configure_trust(context)
    context.verify_mode = ssl.CERT_REQUIRED
    return Backend(address, context)


@pytest.fixture(scope="module")
def mtls_backend(cas: tuple[trustme.CA, trustme.CA]) -> Iterator[Backend]:
    with mutual_tls_backend(MTLS_BACKEND, BACKEND_NAME, *cas) as backend:
        yield backend


def test_backend_mutual_tls_from_a_service_policy(
    scenario: Scenario, cas: tuple[trustme.CA, trustme.CA], mtls_backend: Backend
) -> None:
    server_ca, client_ca = cas
    address = f"{MTLS_BACKEND[0]}:{MTLS_BACKEND[1]}"
    good, bare = "mtls.pconn.example.com", "nocert.pconn.example.com"
    tls: dict[str, Any] = {"caCertificateRef": "pconn-backend-ca", "sni": BACKEND_NAME}
    scenario.apply(
        "pconn-mtls",
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "pconn-backend-ca", "namespace": NAMESPACE},
            "data": {"ca.crt": server_ca.cert_pem.bytes().decode()},
        },
        pem_secret("pconn-client", client_ca.issue_cert("gateway.pconn.example.com")),
        *m.service("pconn-mtls", NAMESPACE, [address]),
        *m.service("pconn-nocert", NAMESPACE, [address]),
        policy(
            "pconn-mtls",
            service_target("pconn-mtls"),
            backend={"tls": {**tls, "mtlsCertificateRef": "pconn-client"}},
        ),
        policy("pconn-nocert", service_target("pconn-nocert"), backend={"tls": tls}),
        route("pconn-mtls", good, [to("pconn-mtls")]),
        route("pconn-nocert", bare, [to("pconn-nocert")]),
    )
    body = scenario.eventually_status(good, "/", 200).json()
    assert body["client_names"] == ["gateway.pconn.example.com"]

    def refused() -> int | None:
        status = scenario.get(bare, "/").status_code
        return status if status >= 500 else None

    assert eventually(refused, what="the backend refusing a gateway without a certificate")


def test_failing_endpoint_is_ejected(scenario: Scenario) -> None:
    host = "health.pconn.example.com"
    failing_address = f"{FAILING_BACKEND[0]}:{FAILING_BACKEND[1]}"
    with Backend(FAILING_BACKEND) as failing:
        scenario.apply(
            "pconn-health",
            *m.service("pconn-health", NAMESPACE, [HEALTHY_BACKEND, failing_address]),
            policy(
                "pconn-health",
                service_target("pconn-health"),
                backend={
                    "health": {
                        "consecutiveFailures": 2,
                        "interval": "1s",
                        "baseEjectionTime": "60s",
                        "maxEjectionPercent": 50,
                    }
                },
            ),
            route("pconn-health", host, [to("pconn-health")]),
        )

        def ten_served() -> bool:
            # Round robin alternates without ejection: ten 200s in a row mean it happened.
            return all(scenario.get(host, "/").status_code == 200 for _ in range(10))

        eventually(ten_served, what="the failing endpoint ejected")
        seen = failing.requests
        assert seen >= 2
        assert all(scenario.get(host, "/").status_code == 200 for _ in range(10))
        assert failing.requests == seen


@pytest.fixture
def tls13_gateway(scenario: Scenario) -> Iterator[tuple[str, trustme.CA]]:
    ca = trustme.CA()
    name = "pconn-tls"
    scenario.apply(
        "pconn-tls",
        m.gateway(name, NAMESPACE, [m.https_listener("https", TLS_PORT, ["pconn-tls"])]),
        pem_secret("pconn-tls", ca.issue_cert("tls.pconn.example.com")),
        m.http_route(name, NAMESPACE, [to("echo-1")], [{"name": name}]),
        policy(name, gateway_target(name), frontend={"tls": {"minProtocolVersion": "1.3"}}),
    )
    scenario.gw.wait_condition("Gateway", NAMESPACE, name, "Programmed")
    yield scenario.gw.address_of(NAMESPACE, name), ca


def tls_status(address: str, ca: trustme.CA, maximum: ssl.TLSVersion) -> int | None:
    """GET / with TLS at most ``maximum``; None when the handshake fails."""
    context = ssl.create_default_context()
    ca.configure_trust(context)
    context.maximum_version = maximum
    try:
        with httpx.Client(verify=context, timeout=5) as client:
            return client.get(
                f"https://{address}:{TLS_PORT}/",
                headers={"host": "tls.pconn.example.com"},
                extensions={"sni_hostname": "tls.pconn.example.com"},
            ).status_code
    except httpx.TransportError:
        return None


def test_frontend_tls_minimum_version(
    scenario: Scenario, tls13_gateway: tuple[str, trustme.CA]
) -> None:
    address, ca = tls13_gateway
    eventually(
        lambda: tls_status(address, ca, ssl.TLSVersion.TLSv1_3) == 200, what="TLS 1.3 served"
    )
    eventually(
        lambda: tls_status(address, ca, ssl.TLSVersion.TLSv1_2) is None,
        what="TLS 1.2 refused",
    )
    assert tls_status(address, ca, ssl.TLSVersion.TLSv1_3) == 200


def proxy_outputs(agw_pid: int, gateway: str) -> list[Path]:
    """The files the proxies of ``gateway`` write their output to (the embedded supervisor
    opens one per Gateway, named after it)."""
    children = Path(f"/proc/{agw_pid}/task/{agw_pid}/children").read_text().split()
    found = []
    for child in children:
        try:
            target = Path(os.readlink(f"/proc/{child}/fd/1"))
        except OSError:
            continue
        if f"{NAMESPACE}_{gateway}" in str(target):
            found.append(target)
    return found


def logged_lines(agw_pid: int, gateway: str, marker: str) -> list[dict[str, Any]]:
    lines = []
    for path in proxy_outputs(agw_pid, gateway):
        for line in path.read_text(errors="replace").splitlines():
            if marker in line and line.startswith("{"):
                lines.append(json.loads(line))
    return lines


def test_access_log_filtered_by_cel(scenario: Scenario) -> None:
    name, host = "pconn-log", "log.pconn.example.com"
    scenario.apply(
        "pconn-log",
        m.gateway(name, NAMESPACE, [m.http_listener("http", 8080)]),
        route(name, host, [to("echo-1")], [{"name": name}]),
        policy(
            name,
            gateway_target(name),
            frontend={
                "accessLog": {
                    "filter": 'request.path.startsWith("/logged")',
                    "attributes": {
                        "add": [
                            {"name": "marker", "expression": 'request.headers["x-marker"]'},
                            # Envoy's request.path keeps the query: agw rewrites it for Envoy.
                            {"name": "bare_path", "expression": "request.path"},
                            # Envoy has no backend: left out of its lines.
                            {"name": "upstream", "expression": "backend.name"},
                        ]
                    },
                }
            },
        ),
    )
    scenario.gw.wait_condition("Gateway", NAMESPACE, name, "Programmed")
    run = uuid.uuid4().hex
    pid = scenario.gw.process.pid

    def logged() -> list[dict[str, Any]] | None:
        token = uuid.uuid4().hex
        headers = {"x-marker": f"{run}-{token}"}
        for path in (f"/skipped/{run}", f"/logged/{run}/{token}?q=1"):
            scenario.get(host, path, gateway=name, headers=headers)
        return logged_lines(pid, name, run) or None

    lines = eventually(logged, what="an access-log line")
    assert all(line["path"].startswith("/logged/") for line in lines)
    assert all(line["marker"].startswith(f"{run}-") for line in lines)
    assert all("/skipped/" not in json.dumps(line) for line in lines)
    assert all(line["bare_path"] == line["path"].partition("?")[0] for line in lines)
    if scenario.gw.dataplane == "envoy":
        assert all("upstream" not in line for line in lines)
    else:
        assert all(line["upstream"] == f"service/{NAMESPACE}/echo-1:80" for line in lines)
