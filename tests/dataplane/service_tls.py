"""Certificates and clusters for the tests of TLS from the proxy to the services it asks per
request (rate limit, external authorization, key sets): one trusted CA, one the proxy does not
trust, and clusters whose UpstreamTlsContext is built as the translator builds a backend's
(trust by SDS, SNI, a DNS subject alt name, optionally a client certificate by SDS)."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import trustme
from envoy.config.core.v3 import config_source_pb2
from envoy.extensions.transport_sockets.tls.v3 import common_pb2, secret_pb2, tls_pb2
from envoy.extensions.upstreams.http.v3 import http_protocol_options_pb2

from dataplane.config.cluster import HTTP_PROTOCOL_OPTIONS
from tests.dataplane import resources as r

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
SERVICE_NAME = "svc.example.com"
CA_SECRET = "ca/services"
CLIENT_SECRET = "secret/proxy-client"
TRUSTED = trustme.CA()
ROGUE = trustme.CA()
SERVICE_CERT = TRUSTED.issue_cert(SERVICE_NAME)
ROGUE_CERT = ROGUE.issue_cert(SERVICE_NAME)
CLIENT_CERT = TRUSTED.issue_cert("proxy.example.com")


def _ads() -> Any:
    return config_source_pb2.ConfigSource(
        ads=config_source_pb2.AggregatedConfigSource(), resource_api_version=config_source_pb2.V3
    )


def tls_cluster(
    name: str, *, http2: bool = False, san: str = SERVICE_NAME, client_cert: bool = False
) -> Any:
    cluster = r.cluster(name)
    if http2:
        options = http_protocol_options_pb2.HttpProtocolOptions()
        options.explicit_http_config.http2_protocol_options.SetInParent()
        cluster.typed_extension_protocol_options[HTTP_PROTOCOL_OPTIONS].Pack(options)
    context = tls_pb2.UpstreamTlsContext(sni=SERVICE_NAME)
    combined = context.common_tls_context.combined_validation_context
    matcher = combined.default_validation_context.match_typed_subject_alt_names.add()
    matcher.san_type = common_pb2.SubjectAltNameMatcher.DNS
    matcher.matcher.exact = san
    combined.validation_context_sds_secret_config.name = CA_SECRET
    combined.validation_context_sds_secret_config.sds_config.CopyFrom(_ads())
    if client_cert:
        context.common_tls_context.tls_certificate_sds_secret_configs.add(
            name=CLIENT_SECRET, sds_config=_ads()
        )
    cluster.transport_socket.name = "envoy.transport_sockets.tls"
    cluster.transport_socket.typed_config.Pack(context)
    return cluster


def secrets() -> dict[str, Any]:
    """The trusted CA and the proxy's client certificate, as SDS Secrets."""
    trust = secret_pb2.Secret(name=CA_SECRET)
    trust.validation_context.trusted_ca.inline_bytes = TRUSTED.cert_pem.bytes()
    chain = b"".join(pem.bytes() for pem in CLIENT_CERT.cert_chain_pems)
    client = r.tls_secret(CLIENT_SECRET, chain, CLIENT_CERT.private_key_pem.bytes())
    return {CA_SECRET: trust, CLIENT_SECRET: client}


def server_context(
    cert: trustme.LeafCert,
    *,
    require_client_cert: bool = False,
    server_names: list[str | None] | None = None,
) -> ssl.SSLContext:
    """A service's TLS context; ``server_names`` gets the SNI of every handshake it sees,
    also of handshakes the client then abandons."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    if require_client_cert:
        TRUSTED.configure_trust(context)
        context.verify_mode = ssl.CERT_REQUIRED
    if server_names is not None:
        seen = server_names

        def record(_obj: Any, name: str | None, _context: ssl.SSLContext) -> None:
            seen.append(name)

        context.sni_callback = record
    return context


def grpc_credentials(cert: trustme.LeafCert, *, require_client_cert: bool = False) -> Any:
    chain = b"".join(pem.bytes() for pem in cert.cert_chain_pems)
    return grpc.ssl_server_credentials(
        [(cert.private_key_pem.bytes(), chain)],
        root_certificates=TRUSTED.cert_pem.bytes() if require_client_cert else None,
        require_client_auth=require_client_cert,
    )


class TlsServers:
    """The asyncio TLS servers one test starts (a key server, an HTTP authorization service,
    an OTLP/HTTP collector); ``close`` stops them all."""

    def __init__(self) -> None:
        self._servers: list[asyncio.Server] = []

    async def start(self, handle: Handler, host: str, context: ssl.SSLContext) -> int:
        """Serve ``handle`` on ``host`` with ``context``; the port."""
        server = await asyncio.start_server(handle, host, 0, ssl=context)
        self._servers.append(server)
        return int(server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        for server in self._servers:
            server.close()
            await server.wait_closed()
