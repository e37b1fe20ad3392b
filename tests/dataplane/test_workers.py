"""The worker pool with real worker processes on loopback: two workers both apply a config
and both serve (SO_REUSEPORT spreads connections), and their counters add up; a worker killed
with SIGKILL is restarted, gets the current config at once, serves again, and the totals do
not go backwards; a changed route configuration (sent as a change) reaches every worker; a
config a worker cannot run (its port is taken) is reported as the apply's error; ``stop``
drains: an in-flight slow request completes, new connections are refused, every worker
exits.

Leaves out the xDS client (test_xdsclient_*) and the ``agw proxy`` process as a whole
(test_proxy_controlplane.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest

from dataplane.config import XdsResources, compile_config
from dataplane.errors import ConfigRejected
from dataplane.workers.pool import WorkerPool
from dataplane.xdsclient.resource_types import (
    CLUSTER,
    CLUSTER_LOAD_ASSIGNMENT,
    LISTENER,
    ROUTE_CONFIGURATION,
    SECRET,
)
from dataplane.xdsclient.sink import ConfigUpdate
from dataplane.xdsclient.store import StoredResource
from tests.dataplane import resources as r
from tests.dataplane.backend import EchoBackend
from tests.dataplane.client import fetch, get
from tests.envoy_harness import free_port, wait_for

LISTEN_HOST = "127.0.27.1"
BACKEND_HOST = "127.0.27.2"


def update(
    port: int, backend: EchoBackend, version: str = "1", domains: tuple[str, ...] = ("*",)
) -> ConfigUpdate:
    hosts = [r.vhost(f"v-{domain}", [domain], r.to_cluster("web")) for domain in domains]
    protos: dict[str, dict[str, Any]] = {
        LISTENER: {"l": r.listener("l", LISTEN_HOST, port, "rc")},
        ROUTE_CONFIGURATION: {"rc": r.route_config("rc", *hosts)},
        CLUSTER: {"web": r.cluster("web")},
        CLUSTER_LOAD_ASSIGNMENT: {"web": r.load_assignment("web", (backend.host, backend.port))},
        SECRET: {},
    }
    resources = {
        type_url: {
            name: StoredResource(name, message, message.SerializeToString(), version, 0.0)
            for name, message in named.items()
        }
        for type_url, named in protos.items()
    }
    config = compile_config(
        XdsResources(
            listeners=protos[LISTENER],
            route_configs=protos[ROUTE_CONFIGURATION],
            clusters=protos[CLUSTER],
            load_assignments=protos[CLUSTER_LOAD_ASSIGNMENT],
        ),
        version,
    )
    return ConfigUpdate(version, resources, config)


@pytest.fixture
async def backend() -> AsyncIterator[EchoBackend]:
    server = await EchoBackend("web", BACKEND_HOST).start()
    yield server
    await server.stop()


@contextlib.asynccontextmanager
async def running_pool(count: int) -> AsyncIterator[WorkerPool]:
    pool = WorkerPool(count, stats_interval=0.05, log_level="warning")
    await pool.start()
    try:
        await wait_for(lambda: pool.running() == count, timeout=20, message="workers started")
        yield pool
    finally:
        await pool.stop(drain_seconds=1.0)


async def status_of(port: int, headers: dict[str, str] | None = None) -> int:
    return (await fetch(LISTEN_HOST, port, get("/", headers=headers), timeout=10)).status


async def host_status(port: int, host: str) -> int:
    return (await fetch(LISTEN_HOST, port, get("/", host=host), timeout=10)).status


def total_requests(pool: WorkerPool) -> int:
    return sum(row[3] for row in pool.counters()["requests"])


def requests_by_worker(pool: WorkerPool) -> dict[int, int]:
    return {
        index: sum(row[3] for row in worker.stats.get("requests", ()))
        for index, worker in pool.workers.items()
    }


async def test_two_workers_apply_and_both_serve(backend: EchoBackend) -> None:
    port = free_port(LISTEN_HOST)
    async with running_pool(2) as pool:
        await pool.apply(update(port, backend))
        assert {w.applied_version for w in pool.workers.values()} == {"1"}
        assert pool.ready
        for _ in range(40):
            assert await status_of(port) == 200
        await wait_for(
            lambda: sum(requests_by_worker(pool).values()) == 40,
            timeout=5,
            message="worker counters",
        )
        assert all(count > 0 for count in requests_by_worker(pool).values())
        assert pool.counters()["requests"] == [["web/", "web", 200, 40]]


async def test_killed_worker_is_restarted_with_the_current_config(backend: EchoBackend) -> None:
    port = free_port(LISTEN_HOST)
    async with running_pool(2) as pool:
        await pool.apply(update(port, backend, "1"))
        await pool.apply(update(port, backend, "2"))
        for _ in range(10):
            assert await status_of(port) == 200
        await wait_for(lambda: total_requests(pool) == 10, timeout=5, message="counters")
        victim = pool.workers[0]
        os.kill(victim.pid, signal.SIGKILL)
        await wait_for(
            lambda: 0 in pool.workers and pool.workers[0].pid != victim.pid and pool.ready,
            timeout=20,
            message="worker 0 restarted and ready",
        )
        assert pool.restarts == 1
        assert pool.workers[0].applied_version == "2"
        assert total_requests(pool) >= 10, "totals never go backwards"
        for _ in range(20):
            assert await status_of(port) == 200


async def test_every_worker_takes_a_changed_route_configuration(backend: EchoBackend) -> None:
    port = free_port(LISTEN_HOST)
    hosts = tuple(f"h{i}.example" for i in range(100))
    async with running_pool(2) as pool:
        await pool.apply(update(port, backend, "1", hosts))
        await pool.apply(update(port, backend, "2", (*hosts[:50], "new.example", *hosts[51:])))
        assert {w.applied_version for w in pool.workers.values()} == {"2"}
        for _ in range(20):  # new connections: SO_REUSEPORT spreads them over both workers
            assert await host_status(port, "new.example") == 200
            assert await host_status(port, "h50.example") == 404
            assert await host_status(port, "h99.example") == 200


async def test_config_a_worker_cannot_run_is_the_apply_error(backend: EchoBackend) -> None:
    with socket.socket() as squatter:
        squatter.bind((LISTEN_HOST, 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        async with running_pool(1) as pool:
            with pytest.raises(ConfigRejected, match=f"{LISTEN_HOST}:{port}"):
                await pool.apply(update(port, backend))
            assert not pool.ready


async def test_stop_drains_in_flight_requests_and_refuses_new_ones(backend: EchoBackend) -> None:
    port = free_port(LISTEN_HOST)
    pool = WorkerPool(2, stats_interval=0.05, log_level="warning")
    await pool.start()
    try:
        await wait_for(lambda: pool.running() == 2, timeout=20, message="workers started")
        await pool.apply(update(port, backend))
        slow = asyncio.create_task(status_of(port, {"x-backend-delay": "0.5"}))
        await backend.wait_for_requests(1)
        processes = [worker.process for worker in pool.workers.values()]
        await pool.stop(drain_seconds=5.0)
    finally:
        await pool.stop(drain_seconds=0.0)
    assert await slow == 200
    assert all(process.returncode == 0 for process in processes)
    with pytest.raises(OSError):
        await status_of(port)
