"""TLS on tcp_proxy chains: passthrough chosen by SNI, termination, and both beside HTTPS.

Covers passthrough to two TLS backends by exact name (the client sees each backend's own
certificate), the longest wildcard winning over a shorter one, an unknown or missing SNI
refused when no chain lacks server names, TLS terminated by the proxy in front of a plain TCP
backend (no ALPN negotiated), and one port serving HTTPS (terminated, routed by HTTP) and a
passthrough chain side by side. The ClientHello parser itself is in test_l4_sni.py.
"""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from dataplane.proxy import Proxy
from tests.dataplane import resources as r
from tests.dataplane.client import Connection, get
from tests.dataplane.conftest import PROXY_HOST, Backends
from tests.dataplane.test_l4_config import (
    Endpoints,
    https_chain,
    l4_config,
    stream_listener,
    tcp_chain,
    tcp_proxy,
)
from tests.dataplane.test_l4_tcp import DEADLINE, StartBackend, StreamBackend
from tests.dataplane.test_l4_tcp import stream_backends as stream_backends  # the fixture
from tests.dataplane.test_tls import certificate


def server_tls(tmp_path: Path, common_name: str, names: list[str]) -> ssl.SSLContext:
    chain, key = certificate(common_name, names)
    (tmp_path / f"{common_name}.crt").write_bytes(chain)
    (tmp_path / f"{common_name}.key").write_bytes(key)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / f"{common_name}.crt", tmp_path / f"{common_name}.key")
    return context


async def tls_exchange(
    port: int, server_name: str | None, alpn: list[str] | None = None, host: str = PROXY_HOST
) -> tuple[str, bytes, str | None]:
    """The certificate's common name, the first reply to ``hi``, and the negotiated ALPN."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    if alpn:
        context.set_alpn_protocols(alpn)
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(host, port, ssl=context, server_hostname=server_name),
        DEADLINE,
    )
    try:
        ssl_object = writer.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True)
        common_name = (
            x509.load_der_x509_certificate(der)
            .subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0]
            .value
        )
        writer.write(b"hi")
        reply = await asyncio.wait_for(reader.read(64), DEADLINE)
        while not reply.endswith(b"hi"):
            more = await asyncio.wait_for(reader.read(64), DEADLINE)
            assert more, reply
            reply += more
        return str(common_name), reply, ssl_object.selected_alpn_protocol()
    finally:
        writer.close()


async def is_refused(port: int, server_name: str | None) -> bool:
    try:
        await tls_exchange(port, server_name)
    except (ssl.SSLError, ConnectionError):
        return True
    return False


async def _start_tls_backends(
    stream_backends: StartBackend, tmp_path: Path, *names: str
) -> dict[str, StreamBackend]:
    return {
        name: await stream_backends(name, tls=server_tls(tmp_path, name, [f"{name}.example.com"]))
        for name in names
    }


async def test_passthrough_by_sni(
    proxy: Proxy, stream_backends: StartBackend, tmp_path: Path
) -> None:
    backends = await _start_tls_backends(stream_backends, tmp_path, "a", "b", "wide", "narrow")
    listener = stream_listener(
        "l",
        PROXY_HOST,
        0,
        tcp_chain("wide", tcp_proxy("wide"), ["*.example.com"]),
        tcp_chain("a", tcp_proxy("a"), ["a.example.com"]),
        tcp_chain("narrow", tcp_proxy("narrow"), ["*.deep.example.com"]),
        tcp_chain("b", tcp_proxy("b"), ["b.example.com"]),
        inspect=True,
    )
    endpoints: Endpoints = {name: [(b.host, b.port)] for name, b in backends.items()}
    await proxy.apply(l4_config([listener], endpoints))
    address = proxy.address_of("l")
    assert address is not None
    port = address[1]
    # The backend's own certificate proves the TLS session is end to end.
    assert await tls_exchange(port, "a.example.com") == ("a", b"a:hi", None)
    assert await tls_exchange(port, "B.example.com") == ("b", b"b:hi", None)
    assert (await tls_exchange(port, "x.deep.example.com"))[0] == "narrow"
    assert (await tls_exchange(port, "other.example.com"))[0] == "wide"
    assert await is_refused(port, "nobody.example.org")
    assert await is_refused(port, None)
    assert backends["a"].accepted == 1 and backends["b"].accepted == 1


async def test_plaintext_on_an_inspecting_listener_uses_the_catch_all(
    proxy: Proxy, stream_backends: StartBackend
) -> None:
    plain = await stream_backends("plain")
    listener = stream_listener(
        "l",
        PROXY_HOST,
        0,
        tcp_chain("named", tcp_proxy("plain"), ["x.example.com"]),
        tcp_chain("rest", tcp_proxy("plain")),
        inspect=True,
    )
    await proxy.apply(l4_config([listener], {"plain": [(plain.host, plain.port)]}))
    address = proxy.address_of("l")
    assert address is not None
    reader, writer = await asyncio.open_connection(PROXY_HOST, address[1])
    writer.write(b"not tls at all")
    writer.write_eof()
    assert await asyncio.wait_for(reader.read(), DEADLINE) == b"plain:not tls at all<eof>"
    writer.close()


async def test_terminate_to_a_plain_backend(proxy: Proxy, stream_backends: StartBackend) -> None:
    plain = await stream_backends("plain")
    listener = stream_listener(
        "l",
        PROXY_HOST,
        0,
        tcp_chain("term", tcp_proxy("plain"), ["term.example.com"], secret="s"),
        inspect=True,
    )
    secret = r.tls_secret("s", *certificate("term", ["term.example.com"]))
    await proxy.apply(
        l4_config([listener], {"plain": [(plain.host, plain.port)]}, secrets=[secret])
    )
    address = proxy.address_of("l")
    assert address is not None
    # No ALPN is offered by a tcp_proxy chain that lists none, even to a client asking for h2.
    assert await tls_exchange(address[1], "term.example.com", ["h2"]) == (
        "term",
        b"plain:hi",
        None,
    )
    assert await is_refused(address[1], "other.example.com")


@pytest.mark.parametrize("first", ["https", "passthrough"])
async def test_https_and_passthrough_share_a_port(
    proxy: Proxy,
    backends: Backends,
    stream_backends: StartBackend,
    tmp_path: Path,
    first: str,
) -> None:
    web = await backends("web")
    vault = await stream_backends("vault", tls=server_tls(tmp_path, "vault", ["vault.example.com"]))
    chains = [
        https_chain("https", ["www.example.com"], "s", "rc"),
        tcp_chain("vault", tcp_proxy("vault"), ["vault.example.com"]),
    ]
    if first == "passthrough":
        chains.reverse()
    listener = stream_listener("l", PROXY_HOST, 0, *chains, inspect=True)
    config = l4_config(
        [listener],
        {"web": [(web.host, web.port)], "vault": [(vault.host, vault.port)]},
        secrets=[r.tls_secret("s", *certificate("www", ["www.example.com"]))],
        routes=[r.route_config("rc", r.vhost("v", ["*"], r.to_cluster("web")))],
    )
    await proxy.apply(config)
    address = proxy.address_of("l")
    assert address is not None
    assert await tls_exchange(address[1], "vault.example.com") == ("vault", b"vault:hi", None)
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(["http/1.1"])
    reader, writer = await asyncio.open_connection(
        PROXY_HOST, address[1], ssl=context, server_hostname="www.example.com"
    )
    connection = Connection(reader, writer)
    response = await connection.request(get("/x", host="www.example.com"))
    assert response.status == 200
    assert response.echoed("x-forwarded-proto") == ["https"]
    await connection.close()
