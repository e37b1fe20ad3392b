"""TLS termination: one ``ssl.SSLContext`` per certificate set, chosen by SNI."""

from __future__ import annotations

import hashlib
import os
import ssl
import tempfile
from collections.abc import Iterable

from dataplane.errors import InvalidConfig

# Protocols offered when the filter chain lists them; a chain that lists none gets http/1.1
# (Envoy negotiates nothing then; HTTP/2 with prior knowledge still works, as with Envoy).
SERVED_ALPN = ("h2", "http/1.1")


def server_context(
    certificates: Iterable[tuple[bytes, bytes]], alpn: Iterable[str], *, http: bool = True
) -> ssl.SSLContext:
    """A server context holding every (chain, key) pair; OpenSSL picks by key type. A
    tcp_proxy chain (``http=False``) offers its ALPN list as given, and nothing when empty."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    for chain, key in certificates:
        _load_pair(context, chain, key)
    if http:
        context.set_alpn_protocols([p for p in alpn if p in SERVED_ALPN] or ["http/1.1"])
    elif alpn := list(alpn):
        context.set_alpn_protocols(alpn)
    return context


def _load_pair(context: ssl.SSLContext, chain: bytes, key: bytes) -> None:
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
    certificates: Iterable[tuple[bytes, bytes]], alpn: Iterable[str], *, http: bool = True
) -> str:
    digest = hashlib.sha256()
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
