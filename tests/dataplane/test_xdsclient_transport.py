"""The xDS client over gRPC against the control plane's real ADS server on loopback, driving a
real ``Proxy`` in this process (``InProcessRuntime``), both flavours: the proxy connects,
serves the route and is synced; an update the proxy cannot run because its port is taken
(the compiler cannot know) is NACKed, visible in the server's sync status, and the previous
config keeps serving; a control-plane restart keeps traffic flowing, the client reconnects
and resyncs without running the config again; over TLS, a stream with a stale token is
refused and the token file is read again on the next attempt; the reconnect backoff grows
with jitter within its bounds and resets once a stream delivers.

Leaves out worker processes (test_workers.py) and the ``agw proxy`` command
(test_proxy_controlplane.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import grpc
import pytest

from controlplane.xds.auth import ProxyRejected, bearer_token
from controlplane.xds.auth_certificates import CertificateAuthority
from controlplane.xds.server import serve
from controlplane.xds.snapshot import Snapshot
from dataplane.main import InProcessRuntime
from dataplane.xdsclient import DeltaWire, SotwWire, XdsClient, build_node
from dataplane.xdsclient.backoff import Backoff
from dataplane.xdsclient.credentials import XdsCredentials
from dataplane.xdsclient.sink import ConfigUpdate
from dataplane.xdsclient.transport import AdsConnection
from tests.controlplane import xds_samples as samples
from tests.controlplane.xds_control_plane import GATEWAY, ControlPlane, running_control_plane
from tests.controlplane.xds_samples import LDS
from tests.envoy_harness import Backend, free_port, http_get, run_backend, run_traffic, wait_for

XDS_HOST = "127.0.23.1"
LISTEN_HOST = "127.0.23.2"
BACKEND_HOST = "127.0.23.3"


def snapshot(version: str, backend: Backend, port: int) -> Snapshot:
    return samples.gateway_snapshot(
        version, {"a": [(backend.host, backend.port)]}, "a", listen=(LISTEN_HOST, port)
    )


class Proxy:
    """An xDS client feeding an in-process proxy, with its connection task."""

    def __init__(
        self, plane: ControlPlane, flavour: str, credentials: XdsCredentials | None = None
    ) -> None:
        wire = DeltaWire() if flavour == "delta" else SotwWire()
        self.client = XdsClient(wire, build_node(GATEWAY, f"test/{flavour}"))
        self.runtime = InProcessRuntime()
        self.applied: list[str] = []
        self.connection = AdsConnection(
            self.client,
            self,
            plane.address,
            backoff=Backoff(0.05, 0.2),
            credentials=credentials,
        )

    async def apply(self, update: ConfigUpdate) -> None:
        await self.runtime.apply(update)
        self.applied.append(update.version)


@pytest.fixture(params=["sotw", "delta"])
def flavour(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def backend() -> AsyncIterator[Backend]:
    async with run_backend("backend-a", BACKEND_HOST) as server:
        yield server


@contextlib.asynccontextmanager
async def connected(proxy: Proxy) -> AsyncIterator[Proxy]:
    await proxy.runtime.start()
    task = asyncio.create_task(proxy.connection.run())
    try:
        yield proxy
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await proxy.runtime.stop(0.0)


async def test_connects_serves_and_syncs(flavour: str, backend: Backend) -> None:
    port = free_port(LISTEN_HOST)
    async with running_control_plane(XDS_HOST) as plane, connected(Proxy(plane, flavour)) as proxy:
        plane.publish(snapshot("v1", backend, port))
        await plane.wait_synced("v1")
        assert proxy.runtime.ready and proxy.client.status.initialized
        response = await http_get(LISTEN_HOST, port)
        assert (response.status, response.text) == (200, "backend-a")
        [synced] = plane.proxies()
        assert synced.flavour == flavour and synced.node_id == f"test/{flavour}"


async def test_port_taken_is_nacked_and_the_old_config_serves(
    flavour: str, backend: Backend
) -> None:
    port = free_port(LISTEN_HOST)
    with socket.socket() as squatter:
        squatter.bind((LISTEN_HOST, 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        async with (
            running_control_plane(XDS_HOST) as plane,
            connected(Proxy(plane, flavour)) as proxy,
        ):
            plane.publish(snapshot("v1", backend, port))
            await plane.wait_synced("v1")
            plane.publish(snapshot("v2", backend, taken))

            def nacked() -> str:
                return plane.proxies()[0].types[LDS].last_nack

            await wait_for(lambda: bool(nacked()), timeout=10, message="LDS NACK")
            assert f"{LISTEN_HOST}:{taken}" in nacked()
            assert proxy.client.status.of(LDS).nacks == 1
            assert (await http_get(LISTEN_HOST, port)).status == 200


async def test_control_plane_restart_keeps_traffic_flowing(flavour: str, backend: Backend) -> None:
    port = free_port(LISTEN_HOST)
    address = f"{XDS_HOST}:{free_port(XDS_HOST)}"
    plane = ControlPlane(address)
    await plane.start()
    async with connected(Proxy(plane, flavour)) as proxy:
        plane.publish(snapshot("v1", backend, port))
        await plane.wait_synced("v1")
        applied = len(proxy.applied)
        async with run_traffic(LISTEN_HOST, port) as traffic:
            await plane.stop()
            await wait_for(lambda: not proxy.client.status.connected, timeout=10)
            served = traffic.ok
            await wait_for(lambda: traffic.ok > served + 20, timeout=10, message="traffic")
            plane = ControlPlane(address)
            await plane.start()
            plane.publish(snapshot("v1", backend, port))
            await plane.wait_synced("v1")
        await plane.stop()
        assert traffic.failures == [] and traffic.ok > 0
        assert len(proxy.applied) == applied, "an identical config is not run again"
        assert proxy.client.status.streams_opened == 2


class OneToken:
    """Admits the streams that present ``token`` (the ADS server's Authenticator protocol)."""

    def __init__(self, token: str) -> None:
        self.token = token

    async def authenticate(self, metadata: Mapping[str, str], gateway: str) -> None:
        if bearer_token(metadata) != self.token:
            raise ProxyRejected(grpc.StatusCode.UNAUTHENTICATED, "unknown token")


async def test_tls_with_a_token_file_read_again_on_reconnect(
    tmp_path: Path, backend: Backend
) -> None:
    authority = CertificateAuthority.generate()
    ca_file, token_file = tmp_path / "ca.crt", tmp_path / "token"
    ca_file.write_bytes(authority.cert_pem)
    token_file.write_text("rotated-later\n")
    plane = ControlPlane(f"{XDS_HOST}:{free_port(XDS_HOST)}")
    plane.server = await serve(
        plane.cache,
        plane.address,
        status=plane.status,
        authenticator=OneToken("current"),
        credentials=authority.issue([XDS_HOST]).credentials(),
    )
    port = free_port(LISTEN_HOST)
    plane.publish(snapshot("v1", backend, port))
    proxy = Proxy(plane, "delta", XdsCredentials(ca_file, token_file))
    try:
        async with connected(proxy):
            await wait_for(
                lambda: "UNAUTHENTICATED" in proxy.client.status.last_disconnect,
                timeout=10,
                message="the stale token refused",
            )
            token_file.write_text("current\n")
            await plane.wait_synced("v1")
            assert (await http_get(LISTEN_HOST, port)).status == 200
    finally:
        await plane.stop()


def test_backoff_grows_with_jitter_and_resets() -> None:
    draws: list[tuple[float, float]] = []

    def uniform(low: float, high: float) -> float:
        draws.append((low, high))
        return high

    backoff = Backoff(0.25, 2.0, uniform=uniform)
    delays = [backoff.next_delay() for _ in range(6)]
    assert delays == [0.25, 0.5, 1.0, 2.0, 2.0, 2.0]
    assert all(low == high / 2 for low, high in draws)
    backoff.reset()
    assert backoff.next_delay() == 0.25
