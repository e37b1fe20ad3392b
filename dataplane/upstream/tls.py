"""TLS to upstream endpoints: the connect arguments of a cluster's UpstreamTlsContext, and the
subject-alt-name check OpenSSL cannot do for several names (Envoy's match_typed_subject_alt_names).

Backends connect through the pools; the services the proxy asks per request (authorization,
rate limits, key sets) connect through ``open_stream``, with the same settings.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import TYPE_CHECKING, Any

from dataplane.config.tls_context import SubjectAltName, UpstreamTls

if TYPE_CHECKING:
    from dataplane.upstream.endpoint import Endpoint


def connect_arguments(tls: UpstreamTls | None, handshake_timeout: float) -> dict[str, Any]:
    """Keyword arguments for ``loop.create_connection``: nothing for a plaintext cluster."""
    if tls is None or tls.context is None:
        return {}
    return {
        "ssl": tls.context,
        # An empty name sends no SNI, as Envoy does without ``sni``.
        "server_hostname": tls.sni,
        "ssl_handshake_timeout": max(handshake_timeout, 0.001),
    }


async def open_stream(endpoint: Endpoint) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A stream to one endpoint of a cluster, over TLS when the cluster has an
    UpstreamTlsContext, the handshake bounded by the cluster's connect timeout. Raises OSError
    (``ssl.SSLError`` for TLS) when no acceptable connection results; the caller bounds the
    whole wait."""
    host, port, tls = endpoint.host, endpoint.port, endpoint.tls
    if tls is not None and tls.context is None:
        # Its secrets have not arrived: never fall back to cleartext.
        # (errno, text): an SSLError of one argument prints as a tuple.
        raise ssl.SSLError(
            ssl.SSL_ERROR_SSL, f"{host}:{port}: the cluster's TLS context is not ready"
        )
    reader, writer = await asyncio.open_connection(
        host, port, **connect_arguments(tls, endpoint.connect_timeout)
    )
    if not peer_is_acceptable(tls, writer.transport):
        writer.close()
        raise ssl.SSLCertVerificationError(
            ssl.SSL_ERROR_SSL,
            f"{host}:{port}: the certificate carries none of the expected subject alt names",
        )
    return reader, writer


def peer_is_acceptable(tls: UpstreamTls | None, transport: asyncio.BaseTransport) -> bool:
    """The verified peer certificate carries one of the expected names (any, when none are
    listed: then the chain alone decides, as in Envoy)."""
    if tls is None or tls.validation is None or not tls.validation.subject_alt_names:
        return True
    certificate = transport.get_extra_info("peercert")
    if not certificate:
        return False
    present = certificate.get("subjectAltName", ())
    return any(
        _matches(expected, kind, value)
        for expected in tls.validation.subject_alt_names
        for kind, value in present
    )


def _matches(expected: SubjectAltName, kind: str, value: str) -> bool:
    if kind != expected.kind:
        return False
    if kind == "URI":
        return bool(value == expected.value)
    return dns_name_matches(expected.value, value)


def dns_name_matches(expected: str, presented: str) -> bool:
    """Envoy's DNS SAN rule: exact (case-insensitive), or a ``*.`` certificate name standing
    for exactly one label."""
    expected = expected.lower()
    presented = presented.lower()
    if expected == presented:
        return True
    if not presented.startswith("*."):
        return False
    label, dot, rest = expected.partition(".")
    return bool(label and dot and rest == presented[2:])
