"""TLS origination to backends (BackendTLSPolicy, and the Gateway's client certificate):
an UpstreamTlsContext whose trust comes by SDS (or from the system store), with the SNI and
the names the backend's certificate must carry."""

from __future__ import annotations

from envoy.config.core.v3 import base_pb2
from envoy.extensions.transport_sockets.tls.v3 import common_pb2, secret_pb2, tls_pb2
from envoy.type.matcher.v3 import string_pb2
from google.protobuf.message import Message

from translator.ir import UpstreamTls
from translator.xds.extensions import TLS_TRANSPORT_SOCKET, ads_config_source, pack

# Debian's bundle; Envoy has no built-in trust store. The Python proxy uses the same file.
SYSTEM_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
_SAN_TYPES = {
    "DNS": common_pb2.SubjectAltNameMatcher.DNS,
    "URI": common_pb2.SubjectAltNameMatcher.URI,
}


def build_upstream_tls(tls: UpstreamTls) -> Message:
    defaults = common_pb2.CertificateValidationContext(
        match_typed_subject_alt_names=[
            common_pb2.SubjectAltNameMatcher(
                san_type=_SAN_TYPES[san.kind], matcher=string_pb2.StringMatcher(exact=san.value)
            )
            for san in tls.subject_alt_names
        ]
    )
    common = tls_pb2.CommonTlsContext(alpn_protocols=list(tls.alpn_protocols))
    if tls.insecure_skip_verify:
        pass  # no validation context: Envoy then accepts any certificate
    elif tls.ca_secret is not None:
        common.combined_validation_context.CopyFrom(
            tls_pb2.CommonTlsContext.CombinedCertificateValidationContext(
                default_validation_context=defaults,
                validation_context_sds_secret_config=secret_pb2.SdsSecretConfig(
                    name=tls.ca_secret, sds_config=ads_config_source()
                ),
            )
        )
    else:
        defaults.trusted_ca.CopyFrom(base_pb2.DataSource(filename=SYSTEM_CA_BUNDLE))
        common.validation_context.CopyFrom(defaults)
    if tls.client_certificate_secret is not None:
        common.tls_certificate_sds_secret_configs.append(
            secret_pb2.SdsSecretConfig(
                name=tls.client_certificate_secret, sds_config=ads_config_source()
            )
        )
    context = tls_pb2.UpstreamTlsContext(common_tls_context=common, sni=tls.sni)
    return base_pb2.TransportSocket(name=TLS_TRANSPORT_SOCKET, typed_config=pack(context))
