"""SDS: TLS certificates with their keys, and CA bundles as validation contexts, inline."""

from __future__ import annotations

from envoy.config.core.v3 import base_pb2
from envoy.extensions.transport_sockets.tls.v3 import common_pb2, secret_pb2
from google.protobuf.message import Message

from translator.ir import CaBundle, Secret


def build_secret(secret: Secret) -> Message:
    if isinstance(secret, CaBundle):
        return secret_pb2.Secret(
            name=secret.name,
            validation_context=common_pb2.CertificateValidationContext(
                trusted_ca=base_pb2.DataSource(inline_string=secret.certificates),
            ),
        )
    return secret_pb2.Secret(
        name=secret.name,
        tls_certificate=common_pb2.TlsCertificate(
            certificate_chain=base_pb2.DataSource(inline_string=secret.certificate_chain),
            private_key=base_pb2.DataSource(inline_string=secret.private_key),
        ),
    )
