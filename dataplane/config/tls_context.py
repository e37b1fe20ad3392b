"""Certificate validation in TLS contexts: what an UpstreamTlsContext asks of a backend's
certificate, and what a DownstreamTlsContext asks of a client's.

Trust comes inline, from a file (the system bundle), or by SDS from a Secret's
``validation_context``; SDS names are resolved by the runtime config once every Secret is known.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from typing import Any

from envoy.extensions.transport_sockets.tls.v3 import tls_pb2

from dataplane.config.support import check_fields
from dataplane.errors import InvalidConfig, UnsupportedField, UnsupportedValue

TLS_TRANSPORT = "envoy.transport_sockets.tls"
# CertificateValidationContext.TrustChainVerification.ACCEPT_UNTRUSTED
_ACCEPT_UNTRUSTED = 1
_SAN_TYPES = {1: "EMAIL", 2: "DNS", 3: "URI", 4: "IP_ADDRESS"}


@dataclass(frozen=True, slots=True)
class CertificateConfig:
    """A Secret's tls_certificate."""

    name: str
    certificate_chain: bytes
    private_key: bytes


@dataclass(frozen=True, slots=True)
class SubjectAltName:
    """A name the peer's certificate must carry: ``kind`` is DNS or URI, matched exactly."""

    kind: str
    value: str


@dataclass(frozen=True, slots=True)
class Validation:
    """How a peer's certificate is checked. Exactly one trust source is set."""

    ca_secret: str | None = None
    ca_file: str | None = None
    ca_pem: bytes | None = None
    subject_alt_names: tuple[SubjectAltName, ...] = ()
    accept_untrusted: bool = False


@dataclass(frozen=True, slots=True)
class UpstreamTls:
    """A cluster's UpstreamTlsContext. ``context`` is set once the runtime config has resolved
    the SDS secrets (trust bundle, client certificate) and built the client context."""

    sni: str
    validation: Validation | None
    client_certificate_secrets: tuple[str, ...] = ()
    context: ssl.SSLContext | None = field(default=None, compare=False)
    # Offered as listed; empty: h2 for HTTP/2 clusters, else http/1.1.
    alpn: tuple[str, ...] = ()

    @property
    def secret_names(self) -> tuple[str, ...]:
        names = self.client_certificate_secrets
        if self.validation is not None and self.validation.ca_secret is not None:
            names += (self.validation.ca_secret,)
        return names


def compile_upstream_tls(socket: Any, where: str) -> UpstreamTls:
    if socket.name != TLS_TRANSPORT:
        raise UnsupportedValue("Cluster.transport_socket.name", socket.name, where)
    context = tls_pb2.UpstreamTlsContext()
    if not socket.typed_config.Unpack(context):
        raise UnsupportedValue(
            "Cluster.transport_socket.typed_config", socket.typed_config.type_url, where
        )
    check_fields(context, where=where)
    common = context.common_tls_context
    if common.tls_certificates:
        raise UnsupportedField("UpstreamTlsContext.common_tls_context.tls_certificates", where)
    if common.HasField("tls_params"):
        raise UnsupportedField("UpstreamTlsContext.common_tls_context.tls_params", where)
    validation = compile_validation(common)
    if validation is not None and validation.accept_untrusted:
        raise UnsupportedValue(
            "UpstreamTlsContext...trust_chain_verification", "ACCEPT_UNTRUSTED", where
        )
    return UpstreamTls(
        sni=context.sni,
        validation=validation,
        client_certificate_secrets=tuple(
            config.name for config in common.tls_certificate_sds_secret_configs
        ),
        alpn=tuple(common.alpn_protocols),
    )


def compile_validation(common: Any) -> Validation | None:
    """The validation a CommonTlsContext asks for; None when it verifies nothing."""
    which = common.WhichOneof("validation_context_type")
    if which is None:
        return None
    if which == "validation_context":
        return _validation(common.validation_context, None)
    if which == "combined_validation_context":
        combined = common.combined_validation_context
        secret = combined.validation_context_sds_secret_config.name
        if not secret:
            raise InvalidConfig("combined_validation_context: an SDS secret name is required")
        return _validation(combined.default_validation_context, secret)
    raise UnsupportedField(f"CommonTlsContext.{which}")


def _validation(context: Any, ca_secret: str | None) -> Validation:
    names = []
    for matcher in context.match_typed_subject_alt_names:
        kind = _SAN_TYPES.get(matcher.san_type, "")
        if kind not in ("DNS", "URI"):
            raise UnsupportedValue("SubjectAltNameMatcher.san_type", kind or matcher.san_type)
        if matcher.matcher.WhichOneof("match_pattern") != "exact" or matcher.matcher.ignore_case:
            raise UnsupportedField("SubjectAltNameMatcher.matcher (exact only)")
        names.append(SubjectAltName(kind, matcher.matcher.exact))
    ca_file = ca_pem = None
    if context.HasField("trusted_ca"):
        if ca_secret is not None:
            raise InvalidConfig("trusted_ca is set both inline and by SDS")
        source = context.trusted_ca
        if source.HasField("filename"):
            ca_file = source.filename
        else:
            ca_pem = trusted_ca_bytes(source)
    elif ca_secret is None:
        raise InvalidConfig("CertificateValidationContext: trusted_ca is required")
    return Validation(
        ca_secret=ca_secret,
        ca_file=ca_file,
        ca_pem=ca_pem,
        subject_alt_names=tuple(names),
        accept_untrusted=context.trust_chain_verification == _ACCEPT_UNTRUSTED,
    )


def trusted_ca_bytes(source: Any) -> bytes:
    """A trust bundle held inline (a Secret's validation_context)."""
    if source.HasField("inline_bytes"):
        return bytes(source.inline_bytes)
    if source.HasField("inline_string"):
        return str(source.inline_string).encode()
    raise UnsupportedField("CertificateValidationContext.trusted_ca (inline or filename only)")
