"""TLS termination: certificates from SDS secrets, chosen per connection by SNI.

Covers two HTTPS filter chains on one listener, each with its own certificate and routes, a
catch-all chain for an unknown SNI, ALPN (http/1.1 chosen by an HTTP/1.1 client),
x-forwarded-proto https, and a certificate rotated by a config swap. HTTP/2 over TLS (ALPN h2)
is covered in test_http2_proxy.py.
"""

from __future__ import annotations

import asyncio
import datetime
import ssl
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from dataplane.config import XdsResources, compile_config
from dataplane.proxy import Proxy
from tests.dataplane import resources as r
from tests.dataplane.client import Connection, get
from tests.dataplane.conftest import PROXY_HOST, Backends, free_port


def certificate(common_name: str, names: list[str]) -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


async def handshake(port: int, server_name: str) -> tuple[Connection, str, str | None]:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(["http/1.1"])
    reader, writer = await asyncio.open_connection(
        PROXY_HOST, port, ssl=context, server_hostname=server_name
    )
    ssl_object = writer.get_extra_info("ssl_object")
    der = ssl_object.getpeercert(binary_form=True)
    common_name = (
        x509.load_der_x509_certificate(der)
        .subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0]
        .value
    )
    return Connection(reader, writer), str(common_name), ssl_object.selected_alpn_protocol()


def tls_config(port: int, certs: dict[str, tuple[bytes, bytes]], backend: Any) -> Any:
    listener = r.tls_listener(
        "https",
        PROXY_HOST,
        port,
        [
            (["a.example.com"], "secret-a", "rc-a"),
            (["*.b.example.com"], "secret-b", "rc-b"),
            ([], "secret-default", "rc-a"),
        ],
    )
    routes = {
        "rc-a": r.route_config("rc-a", r.vhost("a", ["*"], r.to_cluster("web", "/a"))),
        "rc-b": r.route_config("rc-b", r.vhost("b", ["*"], r.to_cluster("web", "/b"))),
    }
    return compile_config(
        XdsResources(
            listeners={"https": listener},
            route_configs=routes,
            clusters={"web": r.cluster("web")},
            load_assignments={"web": r.load_assignment("web", (backend.host, backend.port))},
            secrets={name: r.tls_secret(name, *pem) for name, pem in certs.items()},
        )
    )


async def test_sni_selects_certificate_and_routes(proxy: Proxy, backends: Backends) -> None:
    web = await backends("web")
    certs = {
        "secret-a": certificate("a", ["a.example.com"]),
        "secret-b": certificate("b", ["*.b.example.com"]),
        "secret-default": certificate("default", ["fallback.example.com"]),
    }
    port = free_port()
    await proxy.apply(tls_config(port, certs, web))
    connection, name, alpn = await handshake(port, "a.example.com")
    assert (name, alpn) == ("a", "http/1.1")
    response = await connection.request(get("/a/x", host="a.example.com"))
    assert response.status == 200
    assert response.echoed("x-forwarded-proto") == ["https"]
    assert (await connection.request(get("/b/x", host="a.example.com"))).status == 404
    await connection.close()
    connection, name, _ = await handshake(port, "x.b.example.com")
    assert name == "b"
    assert (await connection.request(get("/b/y", host="x.b.example.com"))).status == 200
    await connection.close()
    connection, name, _ = await handshake(port, "unknown.example.org")
    assert name == "default"
    await connection.close()


async def test_certificate_rotation_by_config_swap(proxy: Proxy, backends: Backends) -> None:
    web = await backends("web")
    first = {
        "secret-a": certificate("a-1", ["a.example.com"]),
        "secret-b": certificate("b", ["*.b.example.com"]),
        "secret-default": certificate("default", ["fallback.example.com"]),
    }
    port = free_port()
    await proxy.apply(tls_config(port, first, web))
    old, name, _ = await handshake(port, "a.example.com")
    assert name == "a-1"
    await proxy.apply(
        tls_config(port, {**first, "secret-a": certificate("a-2", ["a.example.com"])}, web)
    )
    new, name, _ = await handshake(port, "a.example.com")
    assert name == "a-2"
    # The connection made before the rotation keeps working.
    assert (await old.request(get("/a/", host="a.example.com"))).status == 200
    assert (await new.request(get("/a/", host="a.example.com"))).status == 200
    await old.close()
    await new.close()
