"""Client-certificate validation on TLS listeners (DownstreamTlsContext).

Covers ``require_client_certificate`` with a CA from SDS (no certificate or one from another
CA fails the TLS handshake, over TLS 1.2 and 1.3; a certificate from the CA gets 200), a CA
without ``require_client_certificate`` (no certificate passes, a bad one fails),
``ACCEPT_UNTRUSTED`` (AllowInsecureFallback: every client passes; agw requests no certificate,
see ``dataplane.tls``), a listener kept warming until its CA secret arrives, and the NACKs for
combinations not implemented. Leaves out certificate revocation lists and SAN checks on client
certificates (not implemented, hence rejected).
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from typing import Any

import pytest
import trustme
from envoy.config.core.v3 import config_source_pb2
from envoy.extensions.transport_sockets.tls.v3 import common_pb2, secret_pb2, tls_pb2

from dataplane.config import RuntimeConfig, XdsResources, compile_config
from dataplane.errors import ConfigRejected
from dataplane.proxy import Proxy
from tests.dataplane import resources as r
from tests.dataplane.client import Connection, get
from tests.dataplane.conftest import BACKEND_HOST, PROXY_HOST, Backends

CA_SECRET = "ca/frontend"
SERVER_SECRET = "secret/server"


def listener(*, required: bool, accept_untrusted: bool = False) -> Any:
    result = r.tls_listener("l", PROXY_HOST, 0, [([], SERVER_SECRET, "rc")])
    socket = result.filter_chains[0].transport_socket
    context = tls_pb2.DownstreamTlsContext()
    socket.typed_config.Unpack(context)
    combined = context.common_tls_context.combined_validation_context
    combined.validation_context_sds_secret_config.name = CA_SECRET
    combined.validation_context_sds_secret_config.sds_config.CopyFrom(
        config_source_pb2.ConfigSource(
            ads=config_source_pb2.AggregatedConfigSource(),
            resource_api_version=config_source_pb2.V3,
        )
    )
    if accept_untrusted:
        combined.default_validation_context.trust_chain_verification = (
            common_pb2.CertificateValidationContext.ACCEPT_UNTRUSTED
        )
    else:
        combined.default_validation_context.SetInParent()
    context.require_client_certificate.value = required
    socket.typed_config.Pack(context)
    return result


def runtime(
    listener_proto: Any, ca: trustme.CA, web: Any, *, with_ca: bool = True
) -> RuntimeConfig:
    server = ca.issue_cert("gateway.example.com")
    secrets = [
        r.tls_secret(
            SERVER_SECRET,
            b"".join(blob.bytes() for blob in server.cert_chain_pems),
            server.private_key_pem.bytes(),
        )
    ]
    if with_ca:
        bundle = secret_pb2.Secret(name=CA_SECRET)
        bundle.validation_context.trusted_ca.inline_bytes = ca.cert_pem.bytes()
        secrets.append(bundle)
    return compile_config(
        XdsResources(
            listeners={"l": listener_proto},
            route_configs={"rc": r.route_config("rc", r.vhost("v", ["*"], r.to_cluster("web")))},
            clusters={"web": r.cluster("web")},
            load_assignments={"web": r.load_assignment("web", (web.host, web.port))},
            secrets={s.name: s for s in secrets},
        ),
        "1",
    )


async def request(
    address: tuple[str, int],
    client_ca: trustme.CA | None,
    version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_3,
) -> int | None:
    """The status of one request with a client certificate from ``client_ca`` (None: no
    certificate); None when TLS fails, in the handshake or (TLS 1.3) on the first read."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.maximum_version = version
    if client_ca is not None:
        client_ca.issue_cert("client.example.com").configure_cert(context)
    try:
        reader, writer = await asyncio.open_connection(*address, ssl=context)
    except (ssl.SSLError, ConnectionError):
        return None
    connection = Connection(reader, writer)
    try:
        response = await connection.request(get("/"), timeout=5.0)
    except (ssl.SSLError, ConnectionError, asyncio.IncompleteReadError, EOFError, AssertionError):
        return None
    finally:
        await connection.close()
    return response.status


async def serve(proxy: Proxy, config: RuntimeConfig) -> tuple[str, int]:
    await proxy.apply(config)
    address = proxy.address_of("l")
    assert address is not None
    return address


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
async def test_required_certificate_must_come_from_the_ca(
    proxy: Proxy, backends: Backends, version: ssl.TLSVersion
) -> None:
    web = await backends("web")
    ca = trustme.CA()
    address = await serve(proxy, runtime(listener(required=True), ca, web))
    assert await request(address, ca, version) == 200
    assert await request(address, None, version) is None
    assert await request(address, trustme.CA(), version) is None
    assert len(web.received) == 1


async def test_optional_certificate_must_verify_when_sent(proxy: Proxy, backends: Backends) -> None:
    web = await backends("web")
    ca = trustme.CA()
    address = await serve(proxy, runtime(listener(required=False), ca, web))
    assert await request(address, None) == 200
    assert await request(address, ca) == 200
    assert await request(address, trustme.CA()) is None


async def test_accept_untrusted_lets_every_client_in(proxy: Proxy, backends: Backends) -> None:
    web = await backends("web")
    ca = trustme.CA()
    config = runtime(listener(required=False, accept_untrusted=True), ca, web)
    address = await serve(proxy, config)
    for client_ca in (None, ca, trustme.CA()):
        assert await request(address, client_ca) == 200


@dataclass(frozen=True)
class Unused:
    """An endpoint for configs that are compiled, never served."""

    host: str = BACKEND_HOST
    port: int = 1


def test_listener_warms_until_its_ca_arrives() -> None:
    ca = trustme.CA()
    config = runtime(listener(required=True), ca, Unused(), with_ca=False)
    assert config.warming_listeners == ("l",)
    assert runtime(listener(required=True), ca, Unused()).warming_listeners == ()


@pytest.mark.parametrize(
    ("required", "accept_untrusted", "expected"),
    [(True, True, "require_client_certificate"), (True, None, "needs a CA")],
)
def test_unimplemented_combinations_are_rejected(
    required: bool, accept_untrusted: bool | None, expected: str
) -> None:
    proto = listener(required=required, accept_untrusted=bool(accept_untrusted))
    if accept_untrusted is None:
        socket = proto.filter_chains[0].transport_socket
        context = tls_pb2.DownstreamTlsContext()
        socket.typed_config.Unpack(context)
        context.common_tls_context.ClearField("combined_validation_context")
        socket.typed_config.Pack(context)
    with pytest.raises(ConfigRejected, match=expected):
        runtime(proto, trustme.CA(), Unused())
