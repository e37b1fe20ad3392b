"""End to end: gRPC (unary and streaming, method and metadata matching, weights, UNIMPLEMENTED
for an unknown method), TLS passthrough by SNI (a non-matching SNI is refused), TLS terminate
to a plain TCP backend, TCP with weighted backends over several ports, and UDP with weighted
backends. Backends run in this process on 127.0.62.x."""

from __future__ import annotations

import socket
import ssl
from collections import Counter
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
import trustme

from e2e import manifests as m
from e2e.backends import GrpcEcho, StreamEcho
from e2e.conftest import NAMESPACE, Scenario
from e2e.harness import eventually


def l4_route(
    kind: str,
    name: str,
    parents: list[dict[str, Any]],
    backends: list[dict[str, Any]],
    hostnames: list[str] | None = None,
) -> dict[str, Any]:
    version = "v1" if kind == "TLSRoute" else "v1alpha2"
    spec: dict[str, Any] = {"parentRefs": parents, "rules": [{"backendRefs": backends}]}
    if hostnames:
        spec["hostnames"] = hostnames
    return {
        "apiVersion": f"gateway.networking.k8s.io/{version}",
        "kind": kind,
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": spec,
    }


def listener(name: str, port: int, protocol: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "port": port,
        "protocol": protocol,
        "allowedRoutes": {"namespaces": {"from": "All"}},
        **extra,
    }


# --- gRPC --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def grpc_backends() -> Iterator[None]:
    with GrpcEcho("grpc-a", "127.0.62.1:50051"), GrpcEcho("grpc-b", "127.0.62.2:50051"):
        yield


def test_grpc_unary_streaming_matching_and_weights(scenario: Scenario, grpc_backends: None) -> None:
    host = "grpc.example.com"
    rules = [
        {
            "matches": [
                {
                    "method": {"service": "echo.Echo", "method": "Unary"},
                    "headers": [{"name": "x-tenant", "value": "blue"}],
                }
            ],
            "backendRefs": [m.backend("grpc-b", port=50051)],
        },
        {
            "matches": [{"method": {"service": "echo.Echo", "method": "Unary"}}],
            "backendRefs": [m.backend("grpc-a", port=50051)],
        },
        {
            "matches": [{"method": {"service": "echo.Echo", "method": "Stream"}}],
            "backendRefs": [
                m.backend("grpc-a", port=50051, weight=1),
                m.backend("grpc-b", port=50051, weight=1),
            ],
        },
    ]
    route = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "GRPCRoute",
        "metadata": {"name": "grpc", "namespace": NAMESPACE},
        "spec": {"parentRefs": [{"name": "shared"}], "hostnames": [host], "rules": rules},
    }
    scenario.apply(
        "grpc",
        *m.service("grpc-a", NAMESPACE, ["127.0.62.1:50051"], port=50051),
        *m.service("grpc-b", NAMESPACE, ["127.0.62.2:50051"], port=50051),
        route,
    )
    target = scenario.base_url().removeprefix("http://")
    with grpc.insecure_channel(target, options=[("grpc.default_authority", host)]) as channel:
        unary = channel.unary_unary("/echo.Echo/Unary")
        reply = eventually(lambda: _call(unary, b"hi", ()), what="gRPC served")
        assert reply == b"grpc-a:-:hi"
        assert unary(b"hi", metadata=(("x-tenant", "blue"),), timeout=5) == b"grpc-b:blue:hi"
        stream = channel.stream_stream("/echo.Echo/Stream")
        seen: Counter[str] = Counter()
        for _ in range(40):
            replies = list(stream(iter([b"1", b"2", b"3"]), timeout=5))
            assert [r.split(b":")[1] for r in replies] == [b"1", b"2", b"3"]
            seen[replies[0].split(b":")[0].decode()] += 1
        assert seen["grpc-a"] >= 8 and seen["grpc-b"] >= 8, seen
        with pytest.raises(grpc.RpcError) as missing:
            channel.unary_unary("/echo.Echo/Nope")(b"x", timeout=5)
        assert missing.value.code() == grpc.StatusCode.UNIMPLEMENTED


def _call(method: Any, request: bytes, metadata: Any) -> bytes | None:
    try:
        return bytes(method(request, metadata=metadata, timeout=5))
    except grpc.RpcError:
        return None


# --- TLS ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def tls_backends(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    directory = tmp_path_factory.mktemp("tls-backends")
    servers = []
    for name, address in (("pass-a", ("127.0.62.11", 7443)), ("pass-b", ("127.0.62.12", 7443))):
        cert = ca.issue_cert(f"{name.removeprefix('pass-')}.pass.example.com")
        cert_file, key_file = directory / f"{name}.crt", directory / f"{name}.key"
        cert.cert_chain_pems[0].write_to_path(str(cert_file))
        cert.private_key_pem.write_to_path(str(key_file))
        servers.append(StreamEcho(name, address, tls=(cert_file, key_file)))
    servers.append(StreamEcho("plain", ("127.0.62.21", 7000)))
    for server in servers:
        server.__enter__()
    yield
    for server in servers:
        server.__exit__()


def tls_exchange(
    address: str, port: int, sni: str, ca: trustme.CA, payload: bytes = b"hi"
) -> bytes:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    with (
        socket.create_connection((address, port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=sni) as tls,
    ):
        tls.sendall(payload)
        return tls.recv(65536)


def test_tls_passthrough_by_sni(scenario: Scenario, tls_backends: None, ca: trustme.CA) -> None:
    scenario.apply(
        "passthrough",
        m.gateway("pass", NAMESPACE, [listener("tls", 8443, "TLS", tls={"mode": "Passthrough"})]),
        *m.service("pass-a", NAMESPACE, ["127.0.62.11:7443"], port=443),
        *m.service("pass-b", NAMESPACE, ["127.0.62.12:7443"], port=443),
        l4_route(
            "TLSRoute",
            "pass-a",
            [{"name": "pass"}],
            [m.backend("pass-a", port=443)],
            ["a.pass.example.com"],
        ),
        l4_route(
            "TLSRoute",
            "pass-b",
            [{"name": "pass"}],
            [m.backend("pass-b", port=443)],
            ["b.pass.example.com"],
        ),
    )
    scenario.gw.wait_condition("Gateway", NAMESPACE, "pass", "Programmed")
    address = scenario.gw.address_of(NAMESPACE, "pass")
    assert (
        eventually(
            lambda: _tls_or_none(address, 8443, "a.pass.example.com", ca), what="passthrough"
        )
        == b"pass-a:hi"
    )
    assert tls_exchange(address, 8443, "b.pass.example.com", ca) == b"pass-b:hi"
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        tls_exchange(address, 8443, "nobody.example.com", ca)


def _tls_or_none(address: str, port: int, sni: str, ca: trustme.CA) -> bytes | None:
    try:
        return tls_exchange(address, port, sni, ca)
    except (ssl.SSLError, OSError):
        return None


def test_tls_terminate_to_tcp(scenario: Scenario, tls_backends: None, ca: trustme.CA) -> None:
    cert = ca.issue_cert("term.example.com")
    scenario.apply(
        "terminate",
        m.tls_secret(
            "term", NAMESPACE, cert.cert_chain_pems[0].bytes(), cert.private_key_pem.bytes()
        ),
        m.gateway(
            "term",
            NAMESPACE,
            [
                listener(
                    "tls",
                    8443,
                    "TLS",
                    tls={"mode": "Terminate", "certificateRefs": [{"name": "term"}]},
                )
            ],
        ),
        *m.service("plain", NAMESPACE, ["127.0.62.21:7000"], port=7000),
        l4_route(
            "TLSRoute",
            "term",
            [{"name": "term"}],
            [m.backend("plain", port=7000)],
            ["term.example.com"],
        ),
    )
    scenario.gw.wait_condition("Gateway", NAMESPACE, "term", "Programmed")
    address = scenario.gw.address_of(NAMESPACE, "term")
    assert (
        eventually(lambda: _tls_or_none(address, 8443, "term.example.com", ca), what="terminate")
        == b"plain:hi"
    )


# --- TCP and UDP ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def stream_backends() -> Iterator[None]:
    servers = [
        StreamEcho("tcp-1", ("127.0.62.31", 7100)),
        StreamEcho("tcp-2", ("127.0.62.32", 7100)),
        StreamEcho("udp-1", ("127.0.62.41", 7200), udp=True),
        StreamEcho("udp-2", ("127.0.62.42", 7200), udp=True),
    ]
    for server in servers:
        server.__enter__()
    yield
    for server in servers:
        server.__exit__()


def tcp_exchange(address: str, port: int, payload: bytes = b"hi") -> bytes:
    with socket.create_connection((address, port), timeout=5) as sock:
        sock.sendall(payload)
        return sock.recv(65536)


def test_tcp_weighted_over_two_ports(scenario: Scenario, stream_backends: None) -> None:
    scenario.apply(
        "tcp",
        m.gateway("tcp", NAMESPACE, [listener("a", 9000, "TCP"), listener("b", 9001, "TCP")]),
        *m.service("tcp-1", NAMESPACE, ["127.0.62.31:7100"], port=7100),
        *m.service("tcp-2", NAMESPACE, ["127.0.62.32:7100"], port=7100),
        l4_route(
            "TCPRoute",
            "tcp-a",
            [{"name": "tcp", "sectionName": "a"}],
            [m.backend("tcp-1", port=7100, weight=3), m.backend("tcp-2", port=7100, weight=1)],
        ),
        l4_route(
            "TCPRoute",
            "tcp-b",
            [{"name": "tcp", "sectionName": "b"}],
            [m.backend("tcp-2", port=7100)],
        ),
    )
    scenario.gw.wait_condition("Gateway", NAMESPACE, "tcp", "Programmed")
    address = scenario.gw.address_of(NAMESPACE, "tcp")
    eventually(lambda: tcp_exchange(address, 9001).startswith(b"tcp-2:"), what="TCP on 9001")
    eventually(lambda: tcp_exchange(address, 9000).endswith(b":hi"), what="TCP on 9000")
    counts = Counter(tcp_exchange(address, 9000).split(b":")[0] for _ in range(100))
    assert 60 <= counts[b"tcp-1"] <= 90, counts


def udp_exchange(address: str, port: int, payload: bytes = b"hi") -> bytes | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(1)
        sock.sendto(payload, (address, port))
        try:
            return sock.recv(65536)
        except TimeoutError:
            return None


def test_udp_weighted(scenario: Scenario, stream_backends: None) -> None:
    scenario.apply(
        "udp",
        m.gateway("udp", NAMESPACE, [listener("dns", 5353, "UDP")]),
        *_udp_service("udp-1", "127.0.62.41:7200"),
        *_udp_service("udp-2", "127.0.62.42:7200"),
        l4_route(
            "UDPRoute",
            "udp",
            [{"name": "udp"}],
            [m.backend("udp-1", port=7200, weight=3), m.backend("udp-2", port=7200, weight=1)],
        ),
    )
    scenario.gw.wait_condition("Gateway", NAMESPACE, "udp", "Programmed")
    address = scenario.gw.address_of(NAMESPACE, "udp")
    eventually(lambda: udp_exchange(address, 5353), what="UDP served")
    counts = Counter((udp_exchange(address, 5353) or b"lost:").split(b":")[0] for _ in range(100))
    assert counts[b"lost"] <= 2, counts
    assert 60 <= counts[b"udp-1"] <= 90, counts


def _udp_service(name: str, endpoint: str) -> list[dict[str, Any]]:
    docs = m.service(name, NAMESPACE, [endpoint], port=7200)
    docs[0]["spec"]["ports"][0]["protocol"] = "UDP"
    docs[1]["ports"][0]["protocol"] = "UDP"
    return docs
