"""TLS from the proxy to backends: a cluster's UpstreamTlsContext.

Covers trust by SDS (a Secret's validation_context) and from a file (the way the system bundle
is named), the SNI sent, subject-alt-name checks (DNS, URI, a wildcard certificate), refusal
with 503 of an untrusted backend or one without an expected name, mutual TLS with a client
certificate from SDS, clusters kept warming until their secrets arrive, and the NACKs for what
is not implemented. Leaves out certificate revocation (not implemented).
"""

from __future__ import annotations

import asyncio
import datetime
import ssl
from pathlib import Path
from typing import Any

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from envoy.config.core.v3 import config_source_pb2
from envoy.extensions.transport_sockets.tls.v3 import common_pb2, secret_pb2, tls_pb2
from envoy.extensions.upstreams.http.v3 import http_protocol_options_pb2

from controlplane.echo.server import serve_echo
from dataplane.config import RuntimeConfig, XdsResources, compile_config
from dataplane.config.cluster import HTTP_PROTOCOL_OPTIONS
from dataplane.errors import ConfigRejected
from dataplane.proxy import Proxy
from dataplane.tls import load_pair
from dataplane.upstream.tls import dns_name_matches
from tests.dataplane import resources as r
from tests.dataplane.backend import EchoBackend, _EchoProtocol
from tests.dataplane.client import fetch, get
from tests.dataplane.conftest import BACKEND_HOST, PROXY_HOST

CA_SECRET = "ca/backend"
CLIENT_SECRET = "secret/client"


class TlsEchoBackend(EchoBackend):
    """The echo backend behind TLS; records the SNI and whether a client certificate came."""

    def __init__(self, context: ssl.SSLContext) -> None:
        super().__init__("tls", BACKEND_HOST)
        self.context = context
        self.server_names: list[str | None] = []
        context.sni_callback = self._record_sni

    def _record_sni(self, _obj: Any, name: str | None, _context: ssl.SSLContext) -> None:
        self.server_names.append(name)

    async def start(self) -> TlsEchoBackend:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(
            lambda: _EchoProtocol(self), self.host, 0, ssl=self.context
        )
        self.port = self.server.sockets[0].getsockname()[1]
        return self


def ads() -> Any:
    return config_source_pb2.ConfigSource(
        ads=config_source_pb2.AggregatedConfigSource(), resource_api_version=config_source_pb2.V3
    )


def tls_cluster(
    *,
    sni: str = "web.example.com",
    sans: tuple[tuple[str, str], ...] = (("DNS", "web.example.com"),),
    ca_file: str | None = None,
    client_secret: str | None = None,
) -> Any:
    cluster = r.cluster("c")
    defaults = common_pb2.CertificateValidationContext()
    for kind, value in sans:
        matcher = defaults.match_typed_subject_alt_names.add()
        matcher.san_type = common_pb2.SubjectAltNameMatcher.SanType.Value(kind)
        matcher.matcher.exact = value
    context = tls_pb2.UpstreamTlsContext(sni=sni)
    common = context.common_tls_context
    if ca_file is None:
        common.combined_validation_context.default_validation_context.CopyFrom(defaults)
        common.combined_validation_context.validation_context_sds_secret_config.name = CA_SECRET
        common.combined_validation_context.validation_context_sds_secret_config.sds_config.CopyFrom(
            ads()
        )
    else:
        defaults.trusted_ca.filename = ca_file
        common.validation_context.CopyFrom(defaults)
    if client_secret is not None:
        common.tls_certificate_sds_secret_configs.add(name=client_secret, sds_config=ads())
    cluster.transport_socket.name = "envoy.transport_sockets.tls"
    cluster.transport_socket.typed_config.Pack(context)
    return cluster


def ca_secret(ca: trustme.CA, name: str = CA_SECRET) -> Any:
    secret = secret_pb2.Secret(name=name)
    secret.validation_context.trusted_ca.inline_bytes = ca.cert_pem.bytes()
    return secret


def config(cluster: Any, backend: EchoBackend, secrets: list[Any]) -> RuntimeConfig:
    return compile_config(
        XdsResources(
            listeners={"l": r.listener("l", PROXY_HOST, 0, "rc")},
            route_configs={"rc": r.route_config("rc", r.vhost("v", ["*"], r.to_cluster("c")))},
            clusters={"c": cluster},
            load_assignments={"c": r.load_assignment("c", (backend.host, backend.port))},
            secrets={s.name: s for s in secrets},
        ),
        "1",
    )


def server_context(ca: trustme.CA, *names: str) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert(*names).configure_cert(context)
    return context


async def start_backend(context: ssl.SSLContext) -> TlsEchoBackend:
    return await TlsEchoBackend(context).start()


async def status_through(proxy: Proxy, runtime: RuntimeConfig) -> int:
    await proxy.apply(runtime)
    address = proxy.address_of("l")
    assert address is not None
    response = await fetch(*address, get("/"))
    return response.status


async def test_trusted_backend_with_the_expected_name_answers(proxy: Proxy) -> None:
    ca = trustme.CA()
    backend = await start_backend(server_context(ca, "web.example.com"))
    try:
        runtime = config(tls_cluster(), backend, [ca_secret(ca)])
        assert await status_through(proxy, runtime) == 200
        assert backend.server_names[-1] == "web.example.com"
        assert len(backend.received) == 1
    finally:
        await backend.stop()


@pytest.mark.parametrize(
    ("certificate_names", "sans"),
    [
        (("other.example.com",), (("DNS", "web.example.com"),)),
        (("web.example.com",), (("URI", "spiffe://cluster.local/ns/default/sa/web"),)),
    ],
)
async def test_backend_without_an_expected_name_is_refused_with_503(
    proxy: Proxy, certificate_names: tuple[str, ...], sans: tuple[tuple[str, str], ...]
) -> None:
    ca = trustme.CA()
    backend = await start_backend(server_context(ca, *certificate_names))
    try:
        runtime = config(tls_cluster(sans=sans), backend, [ca_secret(ca)])
        assert await status_through(proxy, runtime) == 503
        assert backend.received == []
    finally:
        await backend.stop()


async def test_backend_signed_by_another_ca_is_refused_with_503(proxy: Proxy) -> None:
    backend = await start_backend(server_context(trustme.CA(), "web.example.com"))
    try:
        runtime = config(tls_cluster(), backend, [ca_secret(trustme.CA())])
        assert await status_through(proxy, runtime) == 503
    finally:
        await backend.stop()


def uri_certificate_context(dns_name: str, uri: str) -> tuple[ssl.SSLContext, bytes]:
    """A server context whose certificate carries a DNS and a URI name (trustme issues no
    URIs), and the PEM of the CA that signed it."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test ca")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName(dns_name), x509.UniformResourceIdentifier(uri)]
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    pem = serialization.Encoding.PEM
    key_pem = key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    load_pair(context, leaf.public_bytes(pem), key_pem)
    return context, ca_cert.public_bytes(pem)


async def test_uri_and_wildcard_names_and_a_ca_file(proxy: Proxy, tmp_path: Path) -> None:
    context, ca_pem = uri_certificate_context(
        "*.example.com", "spiffe://cluster.local/ns/default/sa/web"
    )
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(ca_pem)
    backend = await start_backend(context)
    try:
        for sans in (
            (("DNS", "nope.example.org"), ("URI", "spiffe://cluster.local/ns/default/sa/web")),
            (("DNS", "web.example.com"),),
        ):
            runtime = config(tls_cluster(sans=sans, ca_file=str(bundle)), backend, [])
            assert await status_through(proxy, runtime) == 200
    finally:
        await backend.stop()


async def test_mutual_tls_presents_the_client_certificate(proxy: Proxy) -> None:
    ca = trustme.CA()
    context = server_context(ca, "web.example.com")
    context.verify_mode = ssl.CERT_REQUIRED
    ca.configure_trust(context)
    backend = await start_backend(context)
    client = ca.issue_cert("gateway.example.com")
    client_secret = r.tls_secret(
        CLIENT_SECRET,
        b"".join(blob.bytes() for blob in client.cert_chain_pems),
        client.private_key_pem.bytes(),
    )
    try:
        without = config(tls_cluster(), backend, [ca_secret(ca)])
        assert await status_through(proxy, without) == 503
        mutual = config(tls_cluster(client_secret=CLIENT_SECRET), backend, [ca_secret(ca)])
        mutual_with_secret = compile_config(
            XdsResources(
                listeners={"l": r.listener("l", PROXY_HOST, 0, "rc")},
                route_configs={"rc": r.route_config("rc", r.vhost("v", ["*"], r.to_cluster("c")))},
                clusters={"c": tls_cluster(client_secret=CLIENT_SECRET)},
                load_assignments={"c": r.load_assignment("c", (backend.host, backend.port))},
                secrets={CA_SECRET: ca_secret(ca), CLIENT_SECRET: client_secret},
            ),
            "2",
        )
        assert mutual.warming_clusters == ("c",)
        assert await status_through(proxy, mutual_with_secret) == 200
    finally:
        await backend.stop()


@pytest.mark.parametrize(("http2", "alpn"), [(True, "h2"), (False, "http/1.1")])
async def test_alpn_follows_the_cluster_protocol(
    proxy: Proxy, tmp_path: Path, http2: bool, alpn: str
) -> None:
    ca = trustme.CA()
    issued = ca.issue_cert("web.example.com")
    cert, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    cert.write_bytes(b"".join(blob.bytes() for blob in issued.cert_chain_pems))
    key.write_bytes(issued.private_key_pem.bytes())
    cluster = tls_cluster()
    if http2:
        options = http_protocol_options_pb2.HttpProtocolOptions()
        options.explicit_http_config.http2_protocol_options.SetInParent()
        cluster.typed_extension_protocol_options[HTTP_PROTOCOL_OPTIONS].Pack(options)
    async with serve_echo([f"{BACKEND_HOST}:0"], tls_cert=cert, tls_key=key) as echo:
        host, port = echo.addresses[0]
        backend = EchoBackend("echo", host, int(port))
        await proxy.apply(config(cluster, backend, [ca_secret(ca)]))
        address = proxy.address_of("l")
        assert address is not None
        response = await fetch(*address, get("/"))
    assert response.status == 200
    body = response.json()
    assert body["tls"]["alpn"] == alpn and body["tls"]["sni"] == "web.example.com"
    assert body["protocol"] == ("HTTP/2" if http2 else "HTTP/1.1")


def test_cluster_warms_until_its_ca_secret_arrives() -> None:
    backend = EchoBackend("unused", BACKEND_HOST, 1)
    assert config(tls_cluster(), backend, []).warming_clusters == ("c",)
    ready = config(tls_cluster(), backend, [ca_secret(trustme.CA())])
    assert ready.warming_clusters == ()
    tls = ready.clusters["c"].tls
    assert tls is not None and tls.context is not None and tls.sni == "web.example.com"


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda c: setattr(c.transport_socket, "name", "raw"), "transport_socket.name='raw'"),
        (
            lambda c: c.transport_socket.typed_config.Pack(tls_pb2.DownstreamTlsContext()),
            "typed_config",
        ),
    ],
)
def test_unsupported_transport_sockets_are_rejected(mutate: Any, expected: str) -> None:
    cluster = tls_cluster()
    mutate(cluster)
    backend = EchoBackend("unused", BACKEND_HOST, 1)
    with pytest.raises(ConfigRejected, match=expected):
        config(cluster, backend, [ca_secret(trustme.CA())])


def test_secret_trusted_ca_must_be_inline() -> None:
    secret = secret_pb2.Secret(name=CA_SECRET)
    secret.validation_context.trusted_ca.filename = "/etc/ssl/certs/ca-certificates.crt"
    backend = EchoBackend("unused", BACKEND_HOST, 1)
    with pytest.raises(ConfigRejected, match=r"trusted_ca\.filename"):
        config(tls_cluster(), backend, [secret])


@pytest.mark.parametrize(
    ("expected", "presented", "matches"),
    [
        ("web.example.com", "web.example.com", True),
        ("WEB.example.com", "web.EXAMPLE.com", True),
        ("web.example.com", "*.example.com", True),
        ("a.web.example.com", "*.example.com", False),
        ("example.com", "*.example.com", False),
        ("web.example.com", "other.example.com", False),
    ],
)
def test_dns_subject_alt_name_rule(expected: str, presented: str, matches: bool) -> None:
    assert dns_name_matches(expected, presented) is matches
