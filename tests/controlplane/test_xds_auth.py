"""xDS over TLS with proxy identity: the ADS server with a TokenReviewAuthenticator, tokens
reviewed by the emulated API server (tests.kube, on kmock) through kubernetes-asyncio, set up
the way a cluster control plane sets it up (``secure_xds``).

Covers: a proxy presenting its own Gateway's ServiceAccount token gets that Gateway's
configuration (SotW and delta); a valid token of another Gateway's proxy, or of any other
workload, is refused with PERMISSION_DENIED and receives nothing; no token, an unknown token
or a token for another audience are UNAUTHENTICATED; reviews are cached (and expire) and are
shared between concurrent streams; the CA is created once in its Secret and reused; a client
trusting another CA cannot connect; a serving certificate loads from files.

Leaves out: the agw proxy sending the token (the dataplane's xDS client) and token rotation
by kubelet.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from envoy.config.core.v3.base_pb2 import Node
from envoy.service.discovery.v3.ads_pb2_grpc import AggregatedDiscoveryServiceStub
from envoy.service.discovery.v3.discovery_pb2 import DeltaDiscoveryRequest, DiscoveryRequest
from google.protobuf.struct_pb2 import Struct, Value
from kubernetes_asyncio.client import ApiClient, Configuration

from controlplane.deployer import ProvisionSettings, service_account_username
from controlplane.deployer.names import provisioned_name
from controlplane.deployer.xds_security import secure_xds
from controlplane.xds.auth_certificates import (
    CertificateAuthority,
    ServingCertificate,
    load_or_create_authority,
)
from controlplane.xds.auth_tokenreview import TokenReviewAuthenticator
from controlplane.xds.cache import SnapshotCache
from controlplane.xds.server import serve
from tests.controlplane import xds_samples as samples
from tests.controlplane.xds_samples import CDS
from tests.envoy_harness import free_port
from tests.kube.apiserver import ApiServer, running_apiserver

AUDIENCE = "agw-xds"
XDS_HOST = "127.0.20.72"
READ_TIMEOUT = 5.0
WEB, OTHER = "apps/web", "apps/other"


@dataclass
class Setup:
    api: ApiServer
    client: ApiClient
    authenticator: TokenReviewAuthenticator
    address: str
    ca_pem: bytes

    def token_of(self, gateway: str, audience: str = AUDIENCE) -> str:
        namespace, _, name = gateway.partition("/")
        return self.api.issue_token(namespace, provisioned_name(name), audience)

    def channel(self) -> grpc.aio.Channel:
        credentials = grpc.ssl_channel_credentials(root_certificates=self.ca_pem)
        return grpc.aio.secure_channel(self.address, credentials)

    def reviews_sent(self) -> int:
        return len(self.api.requests_with("create", "tokenreviews.authentication.k8s.io"))


@pytest.fixture
async def setup() -> AsyncIterator[Setup]:
    async with (
        running_apiserver(host="127.0.20.71") as api,
        ApiClient(Configuration(host=str(api.url).rstrip("/"))) as client,
    ):
        address = f"{XDS_HOST}:{free_port(XDS_HOST)}"
        settings = ProvisionSettings(
            xds_address=address, xds_server_names=(XDS_HOST,), xds_ca_secret="agw-xds-ca"
        )
        security = await secure_xds(client, "agw-system", settings)
        cache = SnapshotCache()
        for gateway in (WEB, OTHER):
            cache.set_snapshot(
                gateway, samples.snapshot("v1", clusters=[samples.eds_cluster(gateway)])
            )
        server = await serve(
            cache,
            address,
            authenticator=security.authenticator,
            credentials=security.credentials,
        )
        try:
            yield Setup(
                api,
                client,
                security.authenticator,
                address,
                security.settings.xds_ca_certificate.encode(),
            )
        finally:
            await server.stop(None)


def node(gateway: str) -> Node:
    return Node(id="proxy-1", metadata=Struct(fields={"gateway": Value(string_value=gateway)}))


def bearer(token: str) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {token}")]


async def first_sotw_response(setup: Setup, gateway: str, metadata: Any) -> Any:
    async with setup.channel() as channel:
        call = AggregatedDiscoveryServiceStub(channel).StreamAggregatedResources(metadata=metadata)
        await call.write(DiscoveryRequest(node=node(gateway), type_url=CDS))
        async with asyncio.timeout(READ_TIMEOUT):
            return await call.read()


async def refusal(setup: Setup, gateway: str, metadata: Any) -> grpc.StatusCode:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await first_sotw_response(setup, gateway, metadata)
    code: grpc.StatusCode = raised.value.code()
    return code


async def test_a_proxy_with_its_gateways_token_gets_that_configuration(setup: Setup) -> None:
    response = await first_sotw_response(setup, WEB, bearer(setup.token_of(WEB)))
    assert response.type_url == CDS
    assert [any_.type_url for any_ in response.resources] == [CDS]
    assert WEB.encode() in response.resources[0].value


async def test_delta_streams_are_authenticated_too(setup: Setup) -> None:
    token = setup.token_of(WEB)
    async with setup.channel() as channel:
        call = AggregatedDiscoveryServiceStub(channel).DeltaAggregatedResources(
            metadata=bearer(token)
        )
        await call.write(DeltaDiscoveryRequest(node=node(WEB), type_url=CDS))
        async with asyncio.timeout(READ_TIMEOUT):
            response = await call.read()
    assert [resource.name for resource in response.resources] == [WEB]

    async with setup.channel() as channel:
        call = AggregatedDiscoveryServiceStub(channel).DeltaAggregatedResources(
            metadata=bearer(token)
        )
        await call.write(DeltaDiscoveryRequest(node=node(OTHER), type_url=CDS))
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            async with asyncio.timeout(READ_TIMEOUT):
                await call.read()
    assert raised.value.code() is grpc.StatusCode.PERMISSION_DENIED


async def test_a_token_of_another_gateway_gets_nothing(setup: Setup) -> None:
    code = await refusal(setup, WEB, bearer(setup.token_of(OTHER)))
    assert code is grpc.StatusCode.PERMISSION_DENIED


async def test_a_token_of_any_other_workload_gets_nothing(setup: Setup) -> None:
    token = setup.api.issue_token("apps", "default", AUDIENCE)
    assert await refusal(setup, WEB, bearer(token)) is grpc.StatusCode.PERMISSION_DENIED


@pytest.mark.parametrize(
    "metadata",
    [
        pytest.param(None, id="no-token"),
        pytest.param(bearer("not-a-token"), id="unknown-token"),
        pytest.param([("authorization", "Basic dXNlcjpwYXNz")], id="not-bearer"),
    ],
)
async def test_without_a_valid_token_the_stream_is_unauthenticated(
    setup: Setup, metadata: Any
) -> None:
    assert await refusal(setup, WEB, metadata) is grpc.StatusCode.UNAUTHENTICATED


async def test_a_token_for_another_audience_is_unauthenticated(setup: Setup) -> None:
    token = setup.token_of(WEB, audience="https://kubernetes.default.svc")
    assert await refusal(setup, WEB, bearer(token)) is grpc.StatusCode.UNAUTHENTICATED


async def test_reviews_are_cached_and_shared_by_concurrent_streams(setup: Setup) -> None:
    token = setup.token_of(WEB)
    responses = await asyncio.gather(
        *(first_sotw_response(setup, WEB, bearer(token)) for _ in range(5))
    )
    assert all(response.type_url == CDS for response in responses)
    await first_sotw_response(setup, WEB, bearer(token))
    assert setup.reviews_sent() == 1


async def test_the_ca_is_created_once_and_reused(setup: Setup) -> None:
    again = await load_or_create_authority(setup.client, "agw-system", "agw-xds-ca")
    assert again.cert_pem == setup.ca_pem
    assert len(setup.api.requests_with("create", "secrets")) == 1


async def test_a_server_certificate_from_another_ca_is_refused(setup: Setup) -> None:
    stranger = CertificateAuthority.generate().cert_pem
    credentials = grpc.ssl_channel_credentials(root_certificates=stranger)
    async with grpc.aio.secure_channel(setup.address, credentials) as channel:
        call = AggregatedDiscoveryServiceStub(channel).StreamAggregatedResources(
            metadata=bearer(setup.token_of(WEB))
        )
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            async with asyncio.timeout(READ_TIMEOUT):
                await call.write(DiscoveryRequest(node=node(WEB), type_url=CDS))
                await call.read()
    assert raised.value.code() is grpc.StatusCode.UNAVAILABLE
    assert setup.reviews_sent() == 0


async def test_cached_reviews_expire(setup: Setup) -> None:
    now = [0.0]
    authenticator = TokenReviewAuthenticator(
        setup.client,
        service_account_username,
        audiences=[AUDIENCE],
        cache_seconds=60.0,
        clock=lambda: now[0],
    )
    metadata = {"authorization": f"Bearer {setup.token_of(WEB)}"}
    await authenticator.authenticate(metadata, WEB)
    now[0] = 59.0
    await authenticator.authenticate(metadata, WEB)
    assert authenticator.reviews == 1
    now[0] = 61.0
    await authenticator.authenticate(metadata, WEB)
    assert authenticator.reviews == 2


def test_a_serving_certificate_loads_from_files(tmp_path: Path) -> None:
    authority = CertificateAuthority.generate()
    issued = authority.issue(["agw-xds.agw-system.svc"])
    (tmp_path / "tls.crt").write_bytes(issued.chain_pem)
    (tmp_path / "tls.key").write_bytes(issued.key_pem)
    loaded = ServingCertificate.from_files(tmp_path / "tls.crt", tmp_path / "tls.key")
    assert loaded == issued
    assert loaded.ca_pem == authority.cert_pem
