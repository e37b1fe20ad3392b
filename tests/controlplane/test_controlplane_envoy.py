"""The whole control plane on a directory of YAML, driving a real Envoy (SotW and delta):
Envoy becomes ready and serves the route; an edit to the directory changes what Envoy serves
within a second; the control plane's /debug/config_dump matches Envoy's own dump resource for
resource; a control-plane restart leaves traffic flowing and Envoy resyncs; /debug endpoints
show statuses and sync state. Protocol corner cases are covered by the xDS unit tests."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from controlplane.app import ControlPlane, ControlPlaneConfig
from controlplane.bootstrap import envoy_bootstrap
from tests.envoy_harness import (
    Backend,
    EnvoyProcess,
    free_port,
    http_get,
    run_backend,
    run_envoy,
    wait_for,
)

GATEWAY_POOL = "127.0.31.0/24"


def manifests(port: int, backends: dict[str, Backend], active: str) -> str:
    docs = [
        """apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: agw}
spec: {controllerName: agentgateway.dev/agentgateway}""",
        f"""apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {{name: gw, namespace: default}}
spec:
  gatewayClassName: agw
  listeners:
  - {{name: http, port: {port}, protocol: HTTP}}""",
    ]
    for name, backend in backends.items():
        docs.append(f"""apiVersion: v1
kind: Service
metadata: {{name: {name}, namespace: default}}
spec:
  ports:
  - {{name: http, port: 80, targetPort: {backend.port}}}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: {name}-1
  namespace: default
  labels: {{kubernetes.io/service-name: {name}}}
addressType: IPv4
ports:
- {{name: http, port: {backend.port}}}
endpoints:
- addresses: [{backend.host}]""")
    docs.append(f"""apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: web, namespace: default}}
spec:
  parentRefs: [{{name: gw}}]
  rules:
  - backendRefs: [{{name: {active}, port: 80}}]""")
    return "\n---\n".join(docs) + "\n"


def write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name("." + path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


@contextlib.asynccontextmanager
async def control_plane(config_dir: Path, xds_port: int) -> AsyncIterator[ControlPlane]:
    cp = ControlPlane(
        ControlPlaneConfig(
            config_dir=config_dir,
            xds_address=f"127.0.0.1:{xds_port}",
            admin_address="127.0.0.1:0",
            address_pool=GATEWAY_POOL,
            poll_interval=0.05,
        )
    )
    await cp.start()
    try:
        yield cp
    finally:
        await cp.stop()


async def served_by(host: str, port: int) -> str:
    try:
        response = await http_get(host, port, "/", timeout=2)
    except (OSError, TimeoutError):
        return ""
    return response.text if response.status == 200 else f"status {response.status}"


def resources_by_name(dump: dict[str, Any], section: str, key: str) -> dict[str, Any]:
    for config in dump["configs"]:
        if config["@type"].endswith("." + section):
            found = {}
            for entry in config.get(key, []):
                resource = (
                    entry.get("cluster")
                    or entry.get("route_config")
                    or entry.get("active_state", {}).get("listener")
                )
                if resource:
                    found[resource["name"]] = resource
            return found
    return {}


@pytest.mark.parametrize("delta", [False, True], ids=["sotw", "delta"])
async def test_directory_drives_envoy(tmp_path: Path, delta: bool) -> None:
    config_dir = tmp_path / "config"
    config_dir.mkdir()
    xds_port = free_port()
    gateway_port = free_port()
    async with (
        run_backend("blue", "127.0.31.201") as blue,
        run_backend("green", "127.0.31.202") as green,
    ):
        backends = {"blue": blue, "green": green}
        write_atomically(config_dir / "all.yaml", manifests(gateway_port, backends, "blue"))
        bootstrap = envoy_bootstrap("default/gw", f"127.0.0.1:{xds_port}", delta=delta)
        async with run_envoy(bootstrap, tmp_path / "envoy") as envoy:
            async with control_plane(config_dir, xds_port) as cp:
                address = cp.pipeline.addresses["default/gw"]
                await envoy.wait_ready()
                await wait_for(
                    lambda: _serves(address, gateway_port, "blue"),
                    timeout=10,
                    message="blue served",
                )

                # An edit is served within a second.
                start = time.monotonic()
                write_atomically(
                    config_dir / "all.yaml", manifests(gateway_port, backends, "green")
                )
                await wait_for(
                    lambda: _serves(address, gateway_port, "green"),
                    timeout=5,
                    message="green served",
                )
                assert time.monotonic() - start < 1.0

                await _dumps_agree(cp, envoy)
                _check_debug_resources(cp)
                assert all(p["types"] for p in json.loads(cp.sync.to_json())["proxies"])
                metrics = cp.admin.handle("GET", "/metrics").body.decode()
                assert "agw_xds_connected_proxies 1.0" in metrics
                assert 'agw_snapshot_resources{gateway="default/gw"}' in metrics
                assert cp.admin.handle("GET", "/readyz").status == 200

            # Control plane gone: Envoy keeps serving its last configuration.
            assert await served_by(address, gateway_port) == "green"
            async with control_plane(config_dir, xds_port) as cp:
                await wait_for(lambda: len(cp.sync) == 1, timeout=15, message="Envoy reconnected")
                assert await served_by(address, gateway_port) == "green"
                write_atomically(config_dir / "all.yaml", manifests(gateway_port, backends, "blue"))
                await wait_for(
                    lambda: _serves(address, gateway_port, "blue"), timeout=5, message="resynced"
                )
                dump = await envoy.dump_section("ClustersConfigDump")
                assert not dump.get("dynamic_warming_clusters")


async def _serves(host: str, port: int, body: str) -> bool:
    return await served_by(host, port) == body


async def _dumps_agree(cp: ControlPlane, envoy: EnvoyProcess) -> None:
    ours = cp.admin.handle("GET", "/debug/config_dump?gateway=default/gw")
    assert ours.status == 200
    mine = json.loads(ours.body)
    theirs = await envoy.config_dump()
    for section, key in (
        ("ClustersConfigDump", "dynamic_active_clusters"),
        ("RoutesConfigDump", "dynamic_route_configs"),
        ("ListenersConfigDump", "dynamic_listeners"),
    ):
        assert resources_by_name(mine, section, key) == resources_by_name(theirs, section, key), (
            section
        )


def _check_debug_resources(cp: ControlPlane) -> None:
    response = cp.admin.handle("GET", "/debug/resources?kind=Gateway")
    data = json.loads(response.body)
    (gateway,) = data["objects"]
    conditions = {c["type"]: c["status"] for c in gateway["status"]["conditions"]}
    assert conditions == {"Accepted": "True", "Programmed": "True"}
    assert all("lastTransitionTime" in c for c in gateway["status"]["conditions"])
    assert data["problems"] == []
