"""The ADS server's TLS material: a serving certificate from files, or issued by agw's own CA.

In a cluster the control plane serves xDS over TLS. Proxies verify the server against a CA
bundle (mounted from a ConfigMap the deployer writes), and the server proves nothing else:
proxies prove who they are with their ServiceAccount token (``controlplane.xds.auth``).

Where the certificate comes from:

- ``--xds-tls-cert/--xds-tls-key`` (and ``--xds-tls-ca``): files, e.g. from cert-manager;
  nothing is generated.
- Otherwise agw keeps a CA in a Secret of its namespace (``load_or_create_authority``): the
  first replica to start generates a self-signed CA (EC P-256, ten years) and stores it; every
  replica then issues itself a short-lived serving certificate for the xDS Service's names,
  so all replicas behind one Service share one trust anchor, and renews it before it expires
  (``auth_renewal.RenewingCertificate``) without restarting the server. Deleting the Secret
  rotates the CA at the next restart (the proxies follow once the deployer updates their CA
  ConfigMap).

Without a Kubernetes API (development), ``CertificateAuthority.generate()`` makes an
in-memory CA; its certificate must then be handed to the proxies by hand.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from kubernetes_asyncio.client import ApiClient, CoreV1Api, V1ObjectMeta, V1Secret
from kubernetes_asyncio.client.exceptions import ApiException

CA_CERT_KEY = "ca.crt"
CA_KEY_KEY = "ca.key"
_CA_DAYS = 3650
_SERVING_DAYS = 90


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@dataclass(frozen=True)
class ServingCertificate:
    # The leaf first, then the CA that signed it.
    chain_pem: bytes
    key_pem: bytes
    ca_pem: bytes

    @classmethod
    def from_files(
        cls, cert_file: Path, key_file: Path, ca_file: Path | None = None
    ) -> ServingCertificate:
        """The CA defaults to the last certificate of the chain file."""
        chain = cert_file.read_bytes()
        ca = ca_file.read_bytes() if ca_file else _last_certificate(chain)
        return cls(chain, key_file.read_bytes(), ca)

    def credentials(self) -> grpc.ServerCredentials:
        return grpc.ssl_server_credentials([(self.key_pem, self.chain_pem)])

    def configuration(self) -> grpc.ServerCertificateConfiguration:
        """For ``grpc.dynamic_ssl_server_credentials`` (a certificate that can be replaced)."""
        return grpc.ssl_server_certificate_configuration([(self.key_pem, self.chain_pem)])

    @property
    def leaf(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.chain_pem)


@dataclass(frozen=True)
class CertificateAuthority:
    cert_pem: bytes
    key_pem: bytes

    @classmethod
    def generate(cls, common_name: str = "agw xDS CA") -> CertificateAuthority:
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        now = _now()
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=_CA_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    key_cert_sign=True,
                    crl_sign=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(key, hashes.SHA256())
        )
        return cls(certificate.public_bytes(serialization.Encoding.PEM), _key_pem(key))

    def issue(
        self,
        hosts: Sequence[str],
        days: int = _SERVING_DAYS,
        *,
        lifetime: datetime.timedelta | None = None,
    ) -> ServingCertificate:
        """A serving certificate for ``hosts`` (DNS names or IP addresses), valid for
        ``lifetime`` if given, else ``days``."""
        if not hosts:
            raise ValueError("a serving certificate needs at least one host name")
        ca_key = serialization.load_pem_private_key(self.key_pem, password=None)
        if not isinstance(ca_key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
            raise ValueError("the CA key must be an EC or RSA private key")
        ca_cert = x509.load_pem_x509_certificate(self.cert_pem)
        key = ec.generate_private_key(ec.SECP256R1())
        now = _now()
        certificate = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0][:64])]))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + (lifetime or datetime.timedelta(days=days)))
            .add_extension(x509.SubjectAlternativeName(_names(hosts)), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        leaf = certificate.public_bytes(serialization.Encoding.PEM)
        return ServingCertificate(leaf + self.cert_pem, _key_pem(key), self.cert_pem)


async def load_or_create_authority(
    api: ApiClient, namespace: str, secret_name: str
) -> CertificateAuthority:
    """The CA stored in the Secret ``namespace/secret_name``, created on first use. When two
    replicas race to create it, the loser reads the winner's (409 Conflict)."""
    core = CoreV1Api(api)
    for _ in range(3):
        try:
            secret = await core.read_namespaced_secret(secret_name, namespace)
            return _authority_of(secret)
        except ApiException as error:
            if error.status != 404:
                raise
        authority = CertificateAuthority.generate()
        body = V1Secret(
            metadata=V1ObjectMeta(name=secret_name, namespace=namespace),
            type="Opaque",
            data={
                CA_CERT_KEY: base64.b64encode(authority.cert_pem).decode(),
                CA_KEY_KEY: base64.b64encode(authority.key_pem).decode(),
            },
        )
        try:
            await core.create_namespaced_secret(namespace, body)
            return authority
        except ApiException as error:
            if error.status != 409:
                raise
    raise RuntimeError(f"Secret {namespace}/{secret_name} keeps appearing and disappearing")


def _authority_of(secret: V1Secret) -> CertificateAuthority:
    data = secret.data or {}
    try:
        return CertificateAuthority(
            base64.b64decode(data[CA_CERT_KEY]), base64.b64decode(data[CA_KEY_KEY])
        )
    except KeyError as missing:
        name = secret.metadata.name if secret.metadata else "?"
        raise ValueError(f"Secret {name} has no {missing.args[0]}") from None


def _names(hosts: Sequence[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return names


def _last_certificate(chain: bytes) -> bytes:
    marker = b"-----BEGIN CERTIFICATE-----"
    start = chain.rfind(marker)
    if start < 0:
        raise ValueError("the certificate file holds no PEM certificate")
    return chain[start:]
