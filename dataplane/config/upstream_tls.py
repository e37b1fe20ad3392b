"""Resolve a cluster's UpstreamTlsContext against the Secrets: build its client context, or
keep the cluster warming (as Envoy does) while a secret it names has not arrived."""

from __future__ import annotations

import dataclasses
import functools
import ssl
from collections.abc import Mapping
from typing import Any

from dataplane.config.cluster import ClusterConfig
from dataplane.config.tls_context import CertificateConfig, trusted_ca_bytes
from dataplane.errors import InvalidConfig, UnsupportedField
from dataplane.tls import client_context

# Contexts are kept across config versions: loading a system bundle costs milliseconds.
_CONTEXT_CACHE_SIZE = 256


def trust_bundle(name: str, secret: Any) -> bytes:
    """The PEM CAs of a Secret's validation_context (the only part of it read from SDS)."""
    context = secret.validation_context
    extra = [f.name for f, _ in context.ListFields() if f.name != "trusted_ca"]
    if extra:
        raise UnsupportedField(f"Secret.validation_context.{extra[0]}", f"Secret {name!r}")
    if not context.HasField("trusted_ca"):
        raise InvalidConfig(f"Secret {name!r}: validation_context.trusted_ca is required")
    if context.trusted_ca.HasField("filename"):
        raise UnsupportedField("Secret.validation_context.trusted_ca.filename", f"Secret {name!r}")
    return trusted_ca_bytes(context.trusted_ca)


def resolve_upstream_tls(
    cluster: ClusterConfig,
    certificates: Mapping[str, CertificateConfig],
    trust_bundles: Mapping[str, bytes],
) -> ClusterConfig:
    tls = cluster.tls
    if tls is None:
        return cluster
    validation = tls.validation
    ca_pem = validation.ca_pem if validation is not None else None
    if validation is not None and validation.ca_secret is not None:
        ca_pem = trust_bundles.get(validation.ca_secret)
        if ca_pem is None:
            return dataclasses.replace(cluster, warming=True)
    pair = None
    for name in tls.client_certificate_secrets:
        certificate = certificates.get(name)
        if certificate is None:
            return dataclasses.replace(cluster, warming=True)
        pair = (certificate.certificate_chain, certificate.private_key)
    # Without a validation context Envoy accepts any certificate (insecureSkipVerify: All).
    verify = validation is not None
    ca_file = validation.ca_file if validation is not None else None
    alpn = tls.alpn or (("h2",) if cluster.http2 else ("http/1.1",))
    context = _cached_context(ca_pem, ca_file, pair, alpn, verify)
    return dataclasses.replace(cluster, tls=dataclasses.replace(tls, context=context))


@functools.lru_cache(maxsize=_CONTEXT_CACHE_SIZE)
def _cached_context(
    ca_pem: bytes | None,
    ca_file: str | None,
    pair: tuple[bytes, bytes] | None,
    alpn: tuple[str, ...],
    verify: bool,
) -> ssl.SSLContext:
    return client_context(ca_pem, ca_file, pair, alpn, verify=verify)
