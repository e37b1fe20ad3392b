"""Remote JSON Web Key Sets fetched over TLS, when the key server's cluster has an
UpstreamTlsContext: a real HTTPS key server on loopback (certificates from a test CA, trustme)
that requires the proxy's client certificate.

Covers a token verified through the agw proxy once the set is fetched over mutual TLS (the SNI
sent), and, on ``RemoteKeySet`` with the cluster's compiled TLS settings, fetches that fail
closed: a server certificate from a CA the proxy does not trust, one without the expected
subject alt name, a cluster that gives no client certificate. Leaves out the key set's cache
and refetch rules (test_policy_jwks.py) and the other services' TLS
(test_policy_service_tls.py)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
import trustme
from envoy.config.core.v3 import http_uri_pb2
from envoy.extensions.filters.http.jwt_authn.v3 import config_pb2

from dataplane.config import RuntimeConfig, XdsResources, compile_config
from dataplane.config.jwt_authn import parse_jwks
from dataplane.config.tls_context import UpstreamTls
from dataplane.jwks import RemoteKeySet
from dataplane.proxy import Proxy
from e2e.jwt_tokens import SigningKey
from tests.dataplane import resources as r
from tests.dataplane.client import fetch, request_bytes
from tests.dataplane.conftest import PROXY_HOST, Backends
from tests.dataplane.service_tls import (
    ROGUE_CERT,
    SERVICE_CERT,
    SERVICE_NAME,
    TlsServers,
    secrets,
    server_context,
    tls_cluster,
)
from tests.envoy_harness import wait_for

KEYS_HOST = "127.0.20.44"
JWT = "envoy.filters.http.jwt_authn"
ISSUER = "https://issuer.example.com"
KEY = SigningKey("k1", "ES256")
URI = f"https://{SERVICE_NAME}/jwks.json"


class KeyServer:
    """Serves ``KEY``'s set over TLS; counts the fetches it answered."""

    def __init__(self) -> None:
        self.fetches = 0
        self.server_names: list[str | None] = []
        self.port = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        self.fetches += 1
        body = json.dumps({"keys": [KEY.jwk()]}).encode()
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % len(body) + body)
        await writer.drain()
        writer.close()


StartKeys = Callable[[trustme.LeafCert], Awaitable[KeyServer]]


@pytest.fixture
async def key_server() -> AsyncIterator[StartKeys]:
    servers = TlsServers()

    async def start(cert: trustme.LeafCert) -> KeyServer:
        keys = KeyServer()
        context = server_context(cert, require_client_cert=True, server_names=keys.server_names)
        keys.port = await servers.start(keys.handle, KEYS_HOST, context)
        return keys

    yield start
    await servers.close()


def compiled(port: int, cluster: Any, **extra: Any) -> RuntimeConfig:
    return compile_config(
        XdsResources(
            clusters={"keys": cluster, **extra.get("clusters", {})},
            load_assignments={
                "keys": r.load_assignment("keys", (KEYS_HOST, port)),
                **extra.get("load_assignments", {}),
            },
            listeners=extra.get("listeners", {}),
            route_configs=extra.get("route_configs", {}),
            secrets=secrets(),
        ),
        "1",
    )


def jwt_listener() -> Any:
    provider = config_pb2.JwtProvider(
        issuer=ISSUER,
        forward=True,
        remote_jwks=config_pb2.RemoteJwks(http_uri=http_uri_pb2.HttpUri(uri=URI, cluster="keys")),
    )
    provider.remote_jwks.http_uri.timeout.FromSeconds(5)
    config = config_pb2.JwtAuthentication(providers={"remote": provider})
    config.requirement_map["strict"].CopyFrom(config_pb2.JwtRequirement(provider_name="remote"))
    listener = r.listener("l", PROXY_HOST, 0, "rc")
    manager = r.http_manager("rc")
    router = list(manager.http_filters)
    del manager.http_filters[:]
    manager.http_filters.add(name=JWT).typed_config.Pack(config)
    manager.http_filters.extend(router)
    listener.filter_chains[0].filters[0].typed_config.Pack(manager)
    return listener


async def test_token_verified_with_keys_fetched_over_mutual_tls(
    proxy: Proxy, backends: Backends, key_server: StartKeys
) -> None:
    keys = await key_server(SERVICE_CERT)
    web = await backends("web")
    route = r.to_cluster("web", "/")
    route.typed_per_filter_config[JWT].Pack(config_pb2.PerRouteConfig(requirement_name="strict"))
    config = compiled(
        keys.port,
        tls_cluster("keys", client_cert=True),
        listeners={"l": jwt_listener()},
        route_configs={"rc": r.route_config("rc", r.vhost("v", ["*"], route))},
        clusters={"web": r.cluster("web")},
        load_assignments={"web": r.load_assignment("web", (web.host, web.port))},
    )
    await proxy.apply(config)
    address = proxy.address_of("l")
    assert address is not None
    token = KEY.token({"iss": ISSUER, "sub": "alice", "exp": int(time.time()) + 600})
    request = request_bytes("GET", "/", headers={"authorization": f"Bearer {token}"})

    async def admitted() -> bool:
        return (await fetch(*address, request)).status == 200

    # The first request finds no keys (fail closed) and starts the fetch.
    await wait_for(admitted, timeout=5.0, message="the token admitted")
    assert keys.fetches == 1
    assert keys.server_names == [SERVICE_NAME]


@dataclass
class Endpoint:
    """What ``RemoteKeySet`` reads of a cluster's picked endpoint."""

    host: str
    port: int
    tls: UpstreamTls | None
    connect_timeout: float = 2.0


@dataclass
class Balancer:
    endpoint: Endpoint

    def pick(self) -> Endpoint:
        return self.endpoint


@pytest.mark.parametrize(
    ("cert", "san", "client_cert"),
    [
        (SERVICE_CERT, SERVICE_NAME, True),
        (ROGUE_CERT, SERVICE_NAME, True),
        (SERVICE_CERT, "other.example.com", True),
        (SERVICE_CERT, SERVICE_NAME, False),
    ],
    ids=["trusted", "untrusted", "wrong-name", "no-client-cert"],
)
async def test_fetch_fails_closed_on_an_unacceptable_connection(
    key_server: StartKeys, cert: trustme.LeafCert, san: str, client_cert: bool
) -> None:
    keys = await key_server(cert)
    cluster = compiled(keys.port, tls_cluster("keys", san=san, client_cert=client_cert))
    tls = cluster.clusters["keys"].tls
    assert tls is not None and tls.context is not None
    remote = RemoteKeySet("keys", URI, 60.0, parse_jwks)
    remote.bind({"keys": Balancer(Endpoint(KEYS_HOST, keys.port, tls))})
    assert remote.current("k1") == ()
    assert remote.task is not None
    await asyncio.wait_for(remote.task, 5.0)
    trusted = cert is SERVICE_CERT and san == SERVICE_NAME and client_cert
    assert [kid for kid, _ in remote.current("k1")] == (["k1"] if trusted else [])
    assert keys.fetches == (1 if trusted else 0)
    assert keys.server_names == [SERVICE_NAME]
