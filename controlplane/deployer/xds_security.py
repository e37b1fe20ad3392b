"""Everything a control plane in a cluster needs to serve xDS securely, in one call: the TLS
credentials (issued by agw's CA, kept in a Secret), the authenticator that admits only a
Gateway's own proxies, and the provisioning settings with the CA the proxies must trust.

Wiring, in ``agw controlplane --source kubernetes``::

    security = await secure_xds(api, namespace, load_settings(path))
    server = await serve(cache, address, credentials=security.credentials,
                         authenticator=security.authenticator)
    provisioner = Provisioner(api, security.settings, is_leader)
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import grpc
from kubernetes_asyncio.client import ApiClient

from controlplane.deployer.names import service_account_username
from controlplane.deployer.settings import ProvisionSettings
from controlplane.xds.auth_certificates import load_or_create_authority
from controlplane.xds.auth_renewal import RenewingCertificate
from controlplane.xds.auth_tokenreview import TokenReviewAuthenticator


@dataclass(frozen=True)
class SecureXds:
    credentials: grpc.ServerCredentials
    authenticator: TokenReviewAuthenticator
    # ``xds_ca_certificate`` filled in: provisioned proxies mount it and verify the server.
    settings: ProvisionSettings
    # Behind ``credentials``: renewed before it expires, on the running server.
    certificate: RenewingCertificate


async def secure_xds(api: ApiClient, namespace: str, settings: ProvisionSettings) -> SecureXds:
    """``namespace``: the control plane's own, where ``settings.xds_ca_secret`` lives."""
    if not settings.xds_ca_secret:
        raise ValueError("provisioning: xdsCASecret names the Secret that holds the xDS CA")
    authority = await load_or_create_authority(api, namespace, settings.xds_ca_secret)
    host = settings.xds_address.rpartition(":")[0]
    certificate = RenewingCertificate(authority, list(settings.xds_server_names) or [host])
    authenticator = TokenReviewAuthenticator(
        api, service_account_username, audiences=[settings.token_audience]
    )
    return SecureXds(
        credentials=certificate.credentials(),
        authenticator=authenticator,
        settings=replace(settings, xds_ca_certificate=authority.cert_pem.decode()),
        certificate=certificate,
    )
