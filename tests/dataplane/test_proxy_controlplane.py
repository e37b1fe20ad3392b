"""``agw proxy`` as a subprocess (two workers) against the control plane's real ADS server in
this process, fed by the translator from Gateway API YAML; state of the world and delta.

Covers: the proxy becomes ready and serves an HTTPRoute to a loopback backend from both
workers, and its ``/config_dump`` holds the very resources the control plane publishes;
switching the route to another backend under continuous load fails no request; a resource
with a field the proxy does not implement is NACKed (the reason shows in the server's sync
status) while the proxy keeps serving; a control-plane restart leaves traffic uninterrupted
and the proxy resyncs; SIGTERM lets an in-flight request finish, then the proxy exits 0.

Leaves out the protocol corner cases (test_xdsclient_*) and worker crashes (test_workers.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from controlplane.xds.snapshot import Snapshot
from tests.controlplane.xds_control_plane import GATEWAY, ControlPlane
from tests.dataplane.backend import EchoBackend
from tests.dataplane.client import fetch, get
from tests.envoy_harness import free_port, http_get, run_backend, run_traffic, wait_for
from translator.loader import load_text
from translator.options import TranslateOptions
from translator.translate import translate
from translator.xds import type_urls
from translator.xds.dump import config_dump

XDS_HOST = "127.0.24.1"
GATEWAY_ADDRESS = "127.0.24.2"
START_TIMEOUT = 30.0

pytestmark = pytest.mark.parametrize("flavour", ["sotw", "delta"])


def manifests(port: int, backends: dict[str, Any], active: str) -> str:
    """A Gateway on ``port``; ``/slow`` goes to the ``slow`` backend, the rest to ``active``."""
    docs = [
        "apiVersion: gateway.networking.k8s.io/v1\nkind: GatewayClass\nmetadata: {name: agw}\n"
        "spec: {controllerName: agentgateway.dev/agentgateway}",
        "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\n"
        "metadata: {name: gw, namespace: default}\nspec:\n  gatewayClassName: agw\n"
        f"  listeners:\n  - {{name: http, port: {port}, protocol: HTTP}}",
        "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\n"
        "metadata: {name: web, namespace: default}\nspec:\n  parentRefs: [{name: gw}]\n"
        "  rules:\n  - matches: [{path: {type: PathPrefix, value: /slow}}]\n"
        "    backendRefs: [{name: slow, port: 80}]\n"
        f"  - backendRefs: [{{name: {active}, port: 80}}]",
    ]
    for name, backend in backends.items():
        docs.append(
            f"apiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: default}}\n"
            f"spec:\n  ports:\n  - {{name: http, port: 80, targetPort: {backend.port}}}"
        )
        docs.append(
            "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n"
            f"  name: {name}-1\n  namespace: default\n"
            f"  labels: {{kubernetes.io/service-name: {name}}}\naddressType: IPv4\n"
            f"ports:\n- {{name: http, port: {backend.port}}}\n"
            f"endpoints:\n- addresses: [{backend.host}]"
        )
    return "\n---\n".join(docs) + "\n"


def translated(yaml_text: str) -> dict[str, Any]:
    loaded = load_text(yaml_text, "test.yaml")
    assert not loaded.problems, loaded.problems
    options = TranslateOptions(gateway_addresses={GATEWAY: GATEWAY_ADDRESS})
    result = translate(loaded.resource_set(), options)
    assert not result.inconsistencies
    return dict(result.xds[GATEWAY].by_type_url())


class Scenario:
    """Two backends, the gateway's port, and the snapshots the control plane publishes."""

    def __init__(self, backends: dict[str, Any]) -> None:
        self.backends = backends
        self.port = free_port(GATEWAY_ADDRESS)

    def resources(self, active: str) -> dict[str, Any]:
        return translated(manifests(self.port, self.backends, active))

    def snapshot(self, active: str) -> Snapshot:
        return Snapshot.from_resources(self.resources(active))

    async def served_by(self) -> str:
        response = await http_get(GATEWAY_ADDRESS, self.port, timeout=5)
        return response.text if response.status == 200 else f"status {response.status}"


class ProxyProcess:
    def __init__(self, process: subprocess.Popen[bytes], admin_file: Path, log: Path) -> None:
        self.process = process
        self.admin_file = admin_file
        self.log = log
        self.admin = ("", 0)

    async def get(self, path: str) -> tuple[int, str]:
        response = await http_get(*self.admin, path, authority="admin")
        return response.status, response.text

    async def is_ready(self) -> bool:
        return (await self.get("/ready"))[0] == 200

    async def stats(self) -> dict[str, str]:
        lines = (await self.get("/stats"))[1].splitlines()
        return dict(line.split(": ", 1) for line in lines)


def proxy_command(plane: ControlPlane, flavour: str, admin_file: Path) -> list[str]:
    arguments = [
        "proxy", "--xds-address", plane.address, "--gateway", GATEWAY, "--workers", "2",
        "--admin-address", f"{XDS_HOST}:0", "--admin-address-path", str(admin_file),
        f"--{flavour}", "--drain-seconds", "2", "--log-level", "warning",
    ]  # fmt: skip
    return [sys.executable, "-m", "controlplane.cli", *arguments]


@contextlib.asynccontextmanager
async def agw_proxy(
    plane: ControlPlane, flavour: str, workdir: Path
) -> AsyncIterator[ProxyProcess]:
    admin_file, log = workdir / "admin-address", workdir / "proxy.log"
    with open(log, "wb") as output:
        process = subprocess.Popen(
            proxy_command(plane, flavour, admin_file), stdout=output, stderr=output
        )
    proxy = ProxyProcess(process, admin_file, log)
    try:

        def announced() -> bool:
            assert process.poll() is None, log.read_text()
            return admin_file.exists()

        await wait_for(announced, timeout=START_TIMEOUT, message="admin address file")
        host, _, port = admin_file.read_text().strip().rpartition(":")
        proxy.admin = (host, int(port))
        yield proxy
    except BaseException:
        sys.stderr.write(f"--- agw proxy log ---\n{log.read_text()[-4000:]}\n")
        raise
    finally:
        if process.poll() is None:
            process.kill()
        await asyncio.to_thread(process.wait, 10)


@pytest.fixture
async def backends() -> AsyncIterator[dict[str, Any]]:
    slow = await EchoBackend("slow", "127.0.24.13").start()
    async with (
        run_backend("backend-a", "127.0.24.11") as a,
        run_backend("backend-b", "127.0.24.12") as b,
    ):
        yield {"a": a, "b": b, "slow": slow}
    await slow.stop()


@pytest.fixture
async def plane() -> AsyncIterator[ControlPlane]:
    plane = ControlPlane(f"{XDS_HOST}:{free_port(XDS_HOST)}")
    await plane.start()
    yield plane
    await plane.stop()


async def started(plane: ControlPlane, proxy: ProxyProcess, snapshot: Snapshot) -> None:
    plane.publish(snapshot)

    async def ready() -> bool:
        nacks = [t.last_nack for p in plane.proxies() for t in p.types.values() if t.last_nack]
        assert not nacks, f"the proxy rejected what the translator emits: {nacks}"
        return await proxy.is_ready()

    await wait_for(ready, timeout=START_TIMEOUT, message="proxy /ready")
    await plane.wait_synced(snapshot.version)


async def test_serves_from_both_workers_and_dumps_what_was_published(
    tmp_path: Path, plane: ControlPlane, backends: dict[str, Any], flavour: str
) -> None:
    scenario = Scenario(backends)
    async with agw_proxy(plane, flavour, tmp_path) as proxy:
        assert not await proxy.is_ready()
        await started(plane, proxy, scenario.snapshot("a"))
        for _ in range(30):
            assert await scenario.served_by() == "backend-a"

        async def both_workers_served() -> bool:
            stats = await proxy.stats()
            return all(int(stats.get(f"worker.{i}.rq_total", "0")) > 0 for i in (0, 1))

        await wait_for(both_workers_served, timeout=10, message="both workers served")
        [synced] = plane.proxies()
        assert synced.flavour == flavour
        dump = json.loads((await proxy.get("/config_dump?include_eds"))[1])
        published = config_dump(_as_xds(scenario.resources("a")), "")
        assert _resources(dump) == _resources(published)
        metrics = (await proxy.get("/metrics"))[1]
        assert "agw_proxy_xds_connected 1.0" in metrics
        assert 'agw_proxy_requests_total{cluster="' in metrics


async def test_route_change_under_load_and_nack_keep_serving(
    tmp_path: Path, plane: ControlPlane, backends: dict[str, Any], flavour: str
) -> None:
    scenario = Scenario(backends)
    async with agw_proxy(plane, flavour, tmp_path) as proxy:
        await started(plane, proxy, scenario.snapshot("a"))
        async with run_traffic(GATEWAY_ADDRESS, scenario.port) as traffic:
            await wait_for(lambda: traffic.ok > 20, timeout=10, message="traffic")
            plane.publish(scenario.snapshot("b"))
            await plane.wait_synced(scenario.snapshot("b").version)
            await wait_for(lambda: traffic.bodies.get("backend-b", 0) > 20, timeout=10)
        assert traffic.failures == []
        resources = scenario.resources("b")
        [listener] = resources[type_urls.LISTENER].values()
        listener.transparent.value = True
        plane.publish(Snapshot.from_resources(resources))

        def last_nack() -> str:
            return str(plane.proxies()[0].types[type_urls.LISTENER].last_nack)

        await wait_for(lambda: bool(last_nack()), timeout=10, message="LDS NACK in sync status")
        assert "Listener.transparent is not supported" in last_nack()
        assert await scenario.served_by() == "backend-b"
        stats = await proxy.stats()
        assert stats["xds.Listener.update_rejected"] == "1"


async def test_workers_nack_a_bad_route_configuration_and_keep_serving(
    tmp_path: Path, plane: ControlPlane, backends: dict[str, Any], flavour: str
) -> None:
    """The parent leaves route configurations to the workers; their refusal is the NACK."""
    scenario = Scenario(backends)
    async with agw_proxy(plane, flavour, tmp_path) as proxy:
        await started(plane, proxy, scenario.snapshot("a"))
        resources = scenario.resources("b")
        [config] = resources[type_urls.ROUTE_CONFIGURATION].values()
        config.virtual_hosts[0].routes[0].route.max_grpc_timeout.seconds = 3
        plane.publish(Snapshot.from_resources(resources))

        def last_nack() -> str:
            return str(plane.proxies()[0].types[type_urls.ROUTE_CONFIGURATION].last_nack)

        await wait_for(lambda: bool(last_nack()), timeout=10, message="RDS NACK in sync status")
        assert "max_grpc_timeout is not supported" in last_nack()
        assert await scenario.served_by() == "backend-a"


async def test_control_plane_restart_then_sigterm_drains(
    tmp_path: Path, plane: ControlPlane, backends: dict[str, Any], flavour: str
) -> None:
    scenario = Scenario(backends)
    snapshot = scenario.snapshot("a")
    async with agw_proxy(plane, flavour, tmp_path) as proxy:
        await started(plane, proxy, snapshot)
        async with run_traffic(GATEWAY_ADDRESS, scenario.port) as traffic:
            await plane.stop()
            await wait_for(
                lambda: _stat(proxy, "xds.connected", "0"), timeout=10, message="disconnected"
            )
            served = traffic.ok
            await wait_for(lambda: traffic.ok > served + 20, timeout=10, message="traffic")
            await plane.start()
            plane.publish(snapshot)
            await plane.wait_synced(snapshot.version, timeout=15)
        assert traffic.failures == [] and traffic.ok > 0
        assert (await proxy.stats())["xds.streams_opened"] == "2"
        slow = asyncio.create_task(
            fetch(GATEWAY_ADDRESS, scenario.port, get("/slow", headers={"x-backend-delay": "0.5"}))
        )
        await backends["slow"].wait_for_requests(1)
        proxy.process.send_signal(signal.SIGTERM)
        assert (await slow).status == 200, "the in-flight request finishes during the drain"
        assert await asyncio.to_thread(proxy.process.wait, 15) == 0


async def _stat(proxy: ProxyProcess, name: str, value: str) -> bool:
    return (await proxy.stats()).get(name) == value


def _as_xds(by_type: dict[str, Any]) -> Any:
    from translator.xds import XdsResources

    return XdsResources(
        listeners=by_type[type_urls.LISTENER],
        route_configs=by_type[type_urls.ROUTE_CONFIGURATION],
        clusters=by_type[type_urls.CLUSTER],
        endpoints=by_type[type_urls.CLUSTER_LOAD_ASSIGNMENT],
        secrets=by_type[type_urls.SECRET],
    )


_RESOURCE_KEYS = ("cluster", "route_config", "endpoint_config", "secret")


def _resources(dump: dict[str, Any]) -> dict[str, Any]:
    """Every resource in a dump, by section key and name (versions and times left out)."""
    found: dict[str, Any] = {}
    for section in dump["configs"]:
        for key, entries in section.items():
            if not isinstance(entries, list):
                continue
            for entry in entries:
                resource = entry.get("active_state", {}).get("listener") or next(
                    (entry[k] for k in _RESOURCE_KEYS if k in entry), None
                )
                if resource is not None:
                    name = resource.get("name") or resource.get("cluster_name")
                    found[f"{key}/{name}"] = resource
    return found
