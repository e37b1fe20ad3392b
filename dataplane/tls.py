"""TLS contexts: for termination, one ``ssl.SSLContext`` per certificate set (chosen by SNI),
optionally validating client certificates; for origination, a client context per cluster.

Client validation modes, from the DownstreamTlsContext:

- ``require_client_certificate`` with a CA: ``CERT_REQUIRED``; a client without a certificate
  the CA signed fails the handshake.
- a CA without ``require_client_certificate``: ``CERT_OPTIONAL``; a client may send no
  certificate, but one it sends must verify.
- ``trust_chain_verification: ACCEPT_UNTRUSTED`` (Gateway API ``AllowInsecureFallback``): Envoy
  requests a certificate and accepts any. The ``ssl`` module offers no verify callback, and with
  ``CERT_OPTIONAL`` OpenSSL aborts the handshake on a certificate that does not verify (a
  context trusting nothing fails every certificate), so agw uses ``CERT_NONE``: it does not ask
  for a certificate at all. Every handshake succeeds either way; the difference is only that no
  CertificateRequest is sent, which agw can afford because it never reads the client
  certificate afterwards (no XFCC, no certificate-based authorization).

OpenSSL keeps the verify mode of the context a connection started with when the SNI callback
switches contexts, so a listener's base context carries the same validation as its chains.
"""

from __future__ import annotations

import hashlib
import os
import ssl
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass

from dataplane.config.connection import TlsParams
from dataplane.errors import InvalidConfig

# Protocols offered when the filter chain lists them; a chain that lists none gets http/1.1
# (Envoy negotiates nothing then; HTTP/2 with prior knowledge still works, as with Envoy).
SERVED_ALPN = ("h2", "http/1.1")


@dataclass(frozen=True, slots=True)
class ClientCheck:
    """Client-certificate validation on a server context: the trusted CAs (PEM) and the mode."""

    ca_pem: bytes
    mode: ssl.VerifyMode


def server_context(
    certificates: Iterable[tuple[bytes, bytes]],
    alpn: Iterable[str],
    *,
    http: bool = True,
    client_check: ClientCheck | None = None,
    params: TlsParams | None = None,
) -> ssl.SSLContext:
    """A server context holding every (chain, key) pair; OpenSSL picks by key type. A
    tcp_proxy chain (``http=False``) offers its ALPN list as given, and nothing when empty."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if params is not None:
        apply_tls_params(context, params)
    for chain, key in certificates:
        load_pair(context, chain, key)
    if client_check is not None and client_check.mode is not ssl.CERT_NONE:
        load_trust(context, client_check.ca_pem, None)
        context.verify_mode = client_check.mode
    if http:
        context.set_alpn_protocols([p for p in alpn if p in SERVED_ALPN] or ["http/1.1"])
    elif alpn := list(alpn):
        context.set_alpn_protocols(alpn)
    return context


def client_context(
    ca_pem: bytes | None,
    ca_file: str | None,
    certificate: tuple[bytes, bytes] | None,
    alpn: Iterable[str],
    *,
    verify: bool = True,
) -> ssl.SSLContext:
    """A context for connections to a backend: the chain must verify against the given trust;
    names are checked by the caller against the cluster's subject alt names, not the SNI
    (Envoy verifies no hostname unless told which names to expect)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = False
    # verify=False: Envoy's UpstreamTlsContext without a validation context accepts anything.
    context.verify_mode = ssl.CERT_REQUIRED if verify else ssl.CERT_NONE
    load_trust(context, ca_pem, ca_file)
    if certificate is not None:
        load_pair(context, *certificate)
    if alpn := list(alpn):
        context.set_alpn_protocols(alpn)
    return context


_VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}


def apply_tls_params(context: ssl.SSLContext, params: TlsParams) -> None:
    """Protocol bounds and TLS 1.2 cipher suites (TLS 1.3 suites are not configurable in
    OpenSSL's cipher list, nor in Envoy's ``cipher_suites``)."""
    if params.min_version is not None:
        context.minimum_version = _VERSIONS[params.min_version]
    if params.max_version is not None:
        context.maximum_version = _VERSIONS[params.max_version]
    if params.cipher_suites:
        try:
            context.set_ciphers(":".join(params.cipher_suites))
        except ssl.SSLError as exc:
            raise InvalidConfig(f"TlsParameters.cipher_suites: {exc}") from exc


def load_trust(context: ssl.SSLContext, ca_pem: bytes | None, ca_file: str | None) -> None:
    try:
        if ca_pem is not None:
            context.load_verify_locations(cadata=ca_pem.decode("ascii"))
        if ca_file is not None:
            context.load_verify_locations(cafile=ca_file)
    except (ssl.SSLError, ValueError, OSError) as exc:
        raise InvalidConfig(f"a trusted CA bundle could not be loaded: {exc}") from exc


def load_pair(context: ssl.SSLContext, chain: bytes, key: bytes) -> None:
    # The ssl module loads certificates only from files: write them where only we can read.
    with tempfile.TemporaryDirectory(prefix="agw-tls-") as directory:
        cert_path = os.path.join(directory, "chain.pem")
        key_path = os.path.join(directory, "key.pem")
        for path, data in ((cert_path, chain), (key_path, key)):
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(data)
        try:
            context.load_cert_chain(cert_path, key_path)
        except (ssl.SSLError, ValueError) as exc:
            raise InvalidConfig(f"a TLS certificate or key could not be loaded: {exc}") from exc


def fingerprint(
    certificates: Iterable[tuple[bytes, bytes]],
    alpn: Iterable[str],
    *,
    http: bool = True,
    client_check: ClientCheck | None = None,
    params: TlsParams | None = None,
) -> str:
    digest = hashlib.sha256()
    if params is not None:
        digest.update(repr(params).encode())
    if client_check is not None:
        digest.update(client_check.ca_pem)
        digest.update(str(int(client_check.mode)).encode())
    for chain, key in certificates:
        digest.update(chain)
        digest.update(key)
    digest.update(",".join(alpn).encode())
    digest.update(b"http" if http else b"tcp")
    return digest.hexdigest()


# Above any wildcard score (a wildcard scores the length of its suffix, at most 253).
EXACT_MATCH = 1 << 16


def match_server_name(server_name: str | None, patterns: tuple[str, ...]) -> int:
    """How well a chain's server names match, as Envoy ranks them: ``EXACT_MATCH``, else the
    length of the longest matching ``*.suffix`` (so a longer wildcard wins), 0 for a chain
    without names (the catch-all), -1 for no match."""
    if not patterns:
        return 0
    if server_name is None:
        return -1
    name = server_name.lower()
    if name in patterns:
        return EXACT_MATCH
    best = -1
    for pattern in patterns:
        suffix = pattern[1:]
        if pattern.startswith("*.") and name.endswith(suffix) and len(name) > len(suffix):
            best = max(best, len(suffix))
    return best
