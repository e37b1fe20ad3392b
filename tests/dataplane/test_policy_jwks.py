"""``dataplane.jwks.RemoteKeySet`` against a real HTTP key server on loopback, with an injected
clock: nothing before the first fetch (fail closed), the set for the cache duration, a refetch
ahead of expiry, a refetch when a token names an unknown kid at most once per
``REFETCH_INTERVAL``, an unreachable server keeping the provider closed, and the proxy config
compiling ``remote_jwks``. End-to-end verification through both data planes is in
e2e/test_agw_policy_rls.py.

Leaves out TLS to the key server (test_policy_jwks_tls.py)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from envoy.config.core.v3 import http_uri_pb2
from envoy.extensions.filters.http.jwt_authn.v3 import config_pb2

from dataplane.config.jwt_authn import compile_jwt_authn, parse_jwks
from dataplane.jwks import REFETCH_INTERVAL, RemoteKeySet
from e2e.jwt_tokens import SigningKey
from tests.dataplane.conftest import free_port

KEYS_HOST = "127.0.20.41"


@dataclass
class KeyServer:
    jwks: str
    port: int = 0
    fetches: int = 0
    served: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        self.fetches += 1
        body = self.jwks.encode()
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % len(body) + body)
        await writer.drain()
        writer.close()
        self.served.set()


@pytest.fixture
async def key_server() -> AsyncIterator[KeyServer]:
    server = KeyServer(json.dumps({"keys": [SigningKey("k1", "ES256").jwk()]}))
    listening = await asyncio.start_server(server.handle, KEYS_HOST, 0)
    server.port = listening.sockets[0].getsockname()[1]
    yield server
    listening.close()
    await listening.wait_closed()


@dataclass
class Endpoint:
    host: str
    port: int
    tls: None = None
    connect_timeout: float = 1.0


@dataclass
class Balancer:
    endpoint: Endpoint

    def pick(self) -> Endpoint:
        return self.endpoint


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def key_set(port: int, clock: Clock) -> RemoteKeySet:
    keys = RemoteKeySet("keys", "http://keys.ns:80/jwks.json", 60.0, parse_jwks, clock)
    keys.bind({"keys": Balancer(Endpoint(KEYS_HOST, port))})
    return keys


async def fetched(keys: RemoteKeySet) -> None:
    assert keys.task is not None
    await asyncio.wait_for(keys.task, 5)


async def test_cached_for_the_duration_and_refetched(key_server: KeyServer) -> None:
    clock = Clock()
    keys = key_set(key_server.port, clock)
    assert keys.current("k1") == ()  # nothing yet: fail closed, fetch started
    await fetched(keys)
    assert [kid for kid, _ in keys.current("k1")] == ["k1"]
    clock.now += 30
    assert keys.current("k1") and key_server.fetches == 1
    clock.now += 25  # within the last tenth of the duration: refreshed ahead of expiry
    assert keys.current("k1")
    await fetched(keys)
    assert key_server.fetches == 2
    clock.now += 58
    assert keys.current("k1")


async def test_unknown_kid_refetches_at_most_once_per_interval(key_server: KeyServer) -> None:
    clock = Clock()
    keys = key_set(key_server.port, clock)
    keys.current(None)
    await fetched(keys)
    keys.current("rotated")  # right after the first fetch: too soon
    assert key_server.fetches == 1
    clock.now += REFETCH_INTERVAL
    keys.current("rotated")
    await fetched(keys)
    assert key_server.fetches == 2
    keys.current("rotated")
    assert keys.task is not None and keys.task.done()
    assert key_server.fetches == 2
    clock.now += REFETCH_INTERVAL
    keys.current("rotated")
    await fetched(keys)
    assert key_server.fetches == 3


async def test_unreachable_server_stays_closed() -> None:
    clock = Clock()
    keys = key_set(free_port(KEYS_HOST), clock)
    assert keys.current("k1") == ()
    await fetched(keys)
    assert keys.current("k1") == ()


def test_remote_jwks_compiles() -> None:
    provider = config_pb2.JwtProvider(
        issuer="https://issuer",
        forward=True,
        remote_jwks=config_pb2.RemoteJwks(
            http_uri=http_uri_pb2.HttpUri(uri="http://keys.ns:80/k", cluster="keys")
        ),
    )
    config = config_pb2.JwtAuthentication(providers={"p": provider})
    http_filter = type("F", (), {})()
    packed = type("A", (), {"Unpack": lambda self, m: m.CopyFrom(config)})()
    http_filter.typed_config = packed
    http_filter.name = "envoy.filters.http.jwt_authn"
    compiled = compile_jwt_authn(http_filter).providers["p"]
    assert compiled.keys == ()
    assert compiled.remote is not None
    assert (compiled.remote.cluster, compiled.remote.path) == ("keys", b"/k")
    assert compiled.remote.cache_seconds == 300.0
