"""Fixtures for the data-plane tests: a proxy on loopback, echo backends, free ports."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from dataplane.config import XdsResources, compile_config
from dataplane.proxy import Proxy
from tests.dataplane import resources as r
from tests.dataplane.backend import EchoBackend

PROXY_HOST = "127.0.20.1"
BACKEND_HOST = "127.0.20.2"


def free_port(host: str = PROXY_HOST) -> int:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def proxy() -> AsyncIterator[Proxy]:
    instance = Proxy(tick_seconds=0.1)
    yield instance
    await instance.close()


Backends = Callable[[str], Awaitable[EchoBackend]]


@pytest.fixture
async def backends() -> AsyncIterator[Backends]:
    started: list[EchoBackend] = []

    async def start(name: str) -> EchoBackend:
        backend = await EchoBackend(name, BACKEND_HOST).start()
        started.append(backend)
        return backend

    yield start
    for backend in started:
        await backend.stop()


Serve = Callable[..., Awaitable[tuple[str, int]]]


@pytest.fixture
def serve(proxy: Proxy) -> Serve:
    """Apply one listener (port 0) whose catch-all virtual host holds ``routes``."""

    async def apply(
        *routes: Any,
        clusters: dict[str, list[EchoBackend | tuple[str, int]]] | None = None,
        vhosts: list[Any] | None = None,
        cluster_protos: list[Any] | None = None,
        **manager_fields: Any,
    ) -> tuple[str, int]:
        hosts = vhosts if vhosts is not None else [r.vhost("v", ["*"], *routes)]
        endpoints = {
            name: [(m.host, m.port) if isinstance(m, EchoBackend) else m for m in members]
            for name, members in (clusters or {}).items()
        }
        config = r.compiled(
            [r.listener("l", PROXY_HOST, 0, "rc", **manager_fields)],
            [r.route_config("rc", *hosts)],
            endpoints,
            cluster_protos=cluster_protos,
        )
        await proxy.apply(config)
        address = proxy.address_of("l")
        assert address is not None
        return address

    return apply


async def serve_web(proxy: Proxy, web: EchoBackend, listener: Any, routes: Any) -> tuple[str, int]:
    """Run ``listener`` (named "l") with route configuration "rc" and cluster "web" on
    ``web``; the listener's address."""
    config = compile_config(
        XdsResources(
            listeners={"l": listener},
            route_configs={"rc": routes},
            clusters={"web": r.cluster("web")},
            load_assignments={"web": r.load_assignment("web", (web.host, web.port))},
        ),
        "1",
    )
    await proxy.apply(config)
    address = proxy.address_of("l")
    assert address is not None
    return address[0], address[1]
