"""Renewal of the xDS serving certificate on a running ADS server (grpc.aio with
``grpc.dynamic_ssl_server_credentials``, grpcio 1.85), without restarting it.

Covers: before 2/3 of the lifetime every handshake gets the same certificate; after it the
next handshake gets a new one from the same CA (the client's trust is unchanged) and later
handshakes keep that one; with a real three-second lifetime, a new gRPC client after the
renewal is served, and an ADS stream opened before it keeps receiving updates even once the
certificate it was opened with has expired.

Leaves out: token authentication (test_xds_auth) and certificates loaded from files (not
renewed: whoever writes the files renews them; the port would need a restart to reload).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ssl
import time
from collections.abc import AsyncIterator

import grpc
from cryptography import x509
from envoy.config.cluster.v3.cluster_pb2 import Cluster
from envoy.config.core.v3.base_pb2 import Node
from envoy.service.discovery.v3.ads_pb2_grpc import AggregatedDiscoveryServiceStub
from envoy.service.discovery.v3.discovery_pb2 import DiscoveryRequest, DiscoveryResponse
from google.protobuf.struct_pb2 import Struct, Value

from controlplane.xds.auth_certificates import CertificateAuthority
from controlplane.xds.auth_renewal import RenewingCertificate
from controlplane.xds.cache import SnapshotCache
from controlplane.xds.server import serve
from controlplane.xds.snapshot import Snapshot
from tests.controlplane import xds_samples as samples
from tests.controlplane.xds_samples import CDS
from tests.envoy_harness import free_port, wait_for

HOST = "127.0.20.73"
GATEWAY = "apps/web"
READ_TIMEOUT = 5.0


class ManualClock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@contextlib.asynccontextmanager
async def serving(certificate: RenewingCertificate, cache: SnapshotCache) -> AsyncIterator[str]:
    address = f"{HOST}:{free_port(HOST)}"
    server = await serve(cache, address, credentials=certificate.credentials())
    try:
        yield address
    finally:
        await server.stop(None)


async def presented(address: str, ca_pem: bytes) -> x509.Certificate:
    """The certificate a new connection is shown, verified against ``ca_pem``."""
    host, _, port = address.rpartition(":")
    context = ssl.create_default_context(cadata=ca_pem.decode())
    context.set_alpn_protocols(["h2"])
    async with asyncio.timeout(READ_TIMEOUT):
        _, writer = await asyncio.open_connection(
            host, int(port), ssl=context, server_hostname=host
        )
    try:
        der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
    finally:
        writer.close()
        with contextlib.suppress(OSError, TimeoutError):
            async with asyncio.timeout(1):
                await writer.wait_closed()
    return x509.load_der_x509_certificate(der)


def snapshot(version: str, cluster: str) -> Snapshot:
    return samples.snapshot(version, clusters=[samples.eds_cluster(cluster)])


def request() -> DiscoveryRequest:
    node = Node(id="proxy-1", metadata=Struct(fields={"gateway": Value(string_value=GATEWAY)}))
    return DiscoveryRequest(node=node, type_url=CDS)


async def clusters(call: grpc.aio.StreamStreamCall) -> list[str]:
    """The cluster names of the stream's next response."""
    async with asyncio.timeout(READ_TIMEOUT):
        response: DiscoveryResponse = await call.read()
    return [Cluster.FromString(resource.value).name for resource in response.resources]


async def test_renewal_happens_at_two_thirds_of_the_lifetime() -> None:
    authority, clock = CertificateAuthority.generate(), ManualClock()
    certificate = RenewingCertificate(authority, [HOST], datetime.timedelta(hours=3), clock)
    assert certificate.renew_at == clock.now + 2 * 3600
    async with serving(certificate, SnapshotCache()) as address:
        first = await presented(address, authority.cert_pem)
        clock.now += 2 * 3600 - 1
        assert (await presented(address, authority.cert_pem)).serial_number == first.serial_number
        assert certificate.renewals == 0

        clock.now += 1
        renewed = await presented(address, authority.cert_pem)
        assert renewed.serial_number != first.serial_number
        assert renewed.issuer == first.issuer
        assert renewed.not_valid_after_utc >= first.not_valid_after_utc
        assert (await presented(address, authority.cert_pem)).serial_number == (
            renewed.serial_number
        )
        assert certificate.renewals == 1


async def test_streams_outlive_the_certificate_they_were_opened_with() -> None:
    authority = CertificateAuthority.generate()
    certificate = RenewingCertificate(authority, [HOST], datetime.timedelta(seconds=3))
    cache = SnapshotCache()
    cache.set_snapshot(GATEWAY, snapshot("v1", "first"))
    trust = grpc.ssl_channel_credentials(root_certificates=authority.cert_pem)
    async with (
        serving(certificate, cache) as address,
        grpc.aio.secure_channel(address, trust) as early,
    ):
        first = await presented(address, authority.cert_pem)
        call = AggregatedDiscoveryServiceStub(early).StreamAggregatedResources()
        await call.write(request())
        assert await clusters(call) == ["first"]

        async def renewed() -> bool:
            shown = await presented(address, authority.cert_pem)
            return shown.serial_number != first.serial_number

        await wait_for(renewed, timeout=10, interval=0.1, message="a renewed certificate")
        expiry = first.not_valid_after_utc.timestamp()
        await wait_for(lambda: time.time() > expiry, timeout=5, message="the first one expired")

        # A client arriving now is served with the new certificate.
        async with grpc.aio.secure_channel(address, trust) as late:
            fresh = AggregatedDiscoveryServiceStub(late).StreamAggregatedResources()
            await fresh.write(request())
            assert await clusters(fresh) == ["first"]
            fresh.cancel()

        # The stream opened under the expired certificate still gets updates.
        cache.set_snapshot(GATEWAY, snapshot("v2", "second"))
        # (The old cluster may linger: clusters are removed only after routes stop using them.)
        assert "second" in await clusters(call)
        call.cancel()
