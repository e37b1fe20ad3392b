"""The proxy's admin endpoints, served on loopback for an xDS client synced in memory with
the control plane's state machine and a real in-process proxy: ``/ready`` is 503 until a
complete config runs, then 200 ``LIVE``; ``/config_dump`` is Envoy's ConfigDump shape with
versions, TLS private keys redacted, endpoints only with ``?include_eds``; ``/stats`` and
``/metrics`` count requests by route, cluster and code, and show xDS updates, ACKed versions
and NACKs; the index lists every endpoint; unknown paths, other methods and HEAD.

Leaves out counters summed over worker processes (test_workers.py, test_proxy_controlplane.py).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from envoy.config.cluster.v3.cluster_pb2 import Cluster

from controlplane.xds.snapshot import Snapshot
from dataplane.admin import ProxyAdmin
from dataplane.main import InProcessRuntime
from tests.controlplane import xds_samples as samples
from tests.dataplane import resources as r
from tests.dataplane.client import fetch, request_bytes
from tests.dataplane.test_tls import certificate
from tests.dataplane.test_xdsclient_pair import Pair
from tests.envoy_harness import Backend, free_port, http_get, run_backend

ADMIN_HOST = "127.0.25.1"
LISTEN_HOST = "127.0.25.2"
BACKEND_HOST = "127.0.25.3"


@dataclass
class Admin:
    pair: Pair
    runtime: InProcessRuntime
    address: tuple[str, int]
    port: int

    async def get(self, path: str) -> tuple[int, str]:
        response = await http_get(*self.address, path, authority="admin")
        return response.status, response.text

    async def sync(self, snapshot: Snapshot) -> None:
        before = len(self.pair.applied)
        self.pair.exchange(snapshot)
        for update in self.pair.applied[before:]:
            await self.runtime.apply(update)


def snapshot(backend: Backend, port: int, *, cluster_policy: int | None = None) -> Snapshot:
    chain_pem, key_pem = certificate("admin.test", ["admin.test"])
    cluster = samples.eds_cluster("a")
    if cluster_policy is not None:
        cluster.lb_policy = cluster_policy
    return samples.snapshot(
        "v1" if cluster_policy is None else "v2",
        listeners=[
            samples.listener("http", "routes", LISTEN_HOST, port),
            r.tls_listener("https", LISTEN_HOST, free_port(LISTEN_HOST), [([], "cert", "routes")]),
        ],
        routes=[samples.route_config("routes", "a")],
        clusters=[cluster],
        endpoints=[samples.load_assignment("a", [(backend.host, backend.port)])],
        secrets=[r.tls_secret("cert", chain_pem, key_pem)],
    )


@pytest.fixture
async def backend() -> AsyncIterator[Backend]:
    async with run_backend("backend-a", BACKEND_HOST) as server:
        yield server


@pytest.fixture
async def admin() -> AsyncIterator[Admin]:
    pair = Pair("delta")
    pair.connect()
    runtime = InProcessRuntime()
    await runtime.start()
    server = ProxyAdmin(pair.client, runtime)
    address = await server.start(ADMIN_HOST, 0)
    yield Admin(pair, runtime, address, free_port(LISTEN_HOST))
    await server.stop()
    await runtime.stop(0.0)


async def test_ready_only_once_a_complete_config_runs(backend: Backend, admin: Admin) -> None:
    assert await admin.get("/ready") == (503, "PRE_INITIALIZING\n")
    await admin.sync(snapshot(backend, admin.port))
    assert await admin.get("/ready") == (200, "LIVE\n")


async def test_config_dump_is_envoys_shape_with_secrets_redacted(
    backend: Backend, admin: Admin
) -> None:
    await admin.sync(snapshot(backend, admin.port))
    status, text = await admin.get("/config_dump")
    assert status == 200
    sections = {c["@type"].rsplit(".", 1)[-1]: c for c in json.loads(text)["configs"]}
    assert list(sections) == [
        "ClustersConfigDump",
        "ListenersConfigDump",
        "RoutesConfigDump",
        "SecretsConfigDump",
    ]
    [cluster] = sections["ClustersConfigDump"]["dynamic_active_clusters"]
    assert cluster["cluster"]["name"] == "a" and cluster["version_info"]
    listeners = sections["ListenersConfigDump"]["dynamic_listeners"]
    assert sorted(entry["name"] for entry in listeners) == ["http", "https"]
    assert all("active_state" in entry for entry in listeners)
    [secret] = sections["SecretsConfigDump"]["dynamic_active_secrets"]
    tls = secret["secret"]["tls_certificate"]
    assert tls["private_key"] == {"inline_string": "[redacted]"}
    assert "BEGIN PRIVATE KEY" not in text and tls["certificate_chain"]["inline_bytes"]
    _, with_eds = await admin.get("/config_dump?include_eds")
    types = [c["@type"].rsplit(".", 1)[-1] for c in json.loads(with_eds)["configs"]]
    assert "EndpointsConfigDump" in types


async def test_stats_and_metrics_count_requests_and_xds_state(
    backend: Backend, admin: Admin
) -> None:
    await admin.sync(snapshot(backend, admin.port))
    for _ in range(3):
        assert (await http_get(LISTEN_HOST, admin.port)).status == 200
    assert (await http_get(LISTEN_HOST, admin.port, authority="x")).status == 200
    await admin.sync(snapshot(backend, admin.port, cluster_policy=Cluster.MAGLEV))
    _, stats = await admin.get("/stats")
    lines = dict(line.split(": ", 1) for line in stats.splitlines())
    assert lines["route.(none).cluster.a.rq_200"] == "4"
    assert lines["xds.Cluster.update_rejected"] == "1"
    assert int(lines["xds.Listener.update_success"]) >= 1
    assert lines["server.ready"] == "1"
    _, metrics = await admin.get("/metrics")
    assert 'agw_proxy_requests_total{cluster="a",code="200",route=""} 4.0' in metrics
    assert 'agw_proxy_xds_nacks_total{type="Cluster"} 1.0' in metrics
    assert 'agw_proxy_xds_acked_version{type="Listener",version="' in metrics
    assert "agw_proxy_downstream_connections_active 0.0" in metrics
    assert 'agw_proxy_upstream_request_duration_seconds_count{cluster="a"} 4.0' in metrics


async def test_index_unknown_paths_and_methods(admin: Admin) -> None:
    status, text = await admin.get("/")
    assert status == 200
    paths = [row["path"] for row in json.loads(text)["endpoints"]]
    assert paths == ["/", "/config_dump", "/ready", "/stats", "/metrics"]
    assert (await admin.get("/nowhere"))[0] == 404
    posted = await fetch(*admin.address, request_bytes("POST", "/ready", body=b"x"))
    assert posted.status == 405
    head = await fetch(*admin.address, request_bytes("HEAD", "/"))
    assert head.status == 200 and head.body == b"" and int(head.header("content-length") or 0)
