"""CPU per request that tracing adds on the agw proxy.

Usage: .venv/bin/python tools/bench_tracing.py [--requests 3000] [--repeats 5]

One process runs a keep-alive HTTP/1.1 client, the real proxy and an echo backend on
loopback; the CPU per request of the three together is measured without tracing and with
the tracing the translator emits for a policy sampling every request (the default span
attributes: eight command operators, plus one CEL attribute). The collector's cluster has no
endpoint, so spans are built, queued and encoded but no collector's CPU is counted. Reports
the best of ``--repeats`` runs of each.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dataplane.proxy import Proxy  # noqa: E402
from tests.dataplane import resources as r  # noqa: E402
from tests.dataplane.backend import EchoBackend  # noqa: E402
from tests.dataplane.client import Connection, get  # noqa: E402
from translator.ir.connection import CelAttribute, TracingPolicy  # noqa: E402
from translator.xds.tracing import build_tracing  # noqa: E402

_WARMUP = 200


async def cpu_per_request(proxy: Proxy, web: EchoBackend, tracing: Any, requests: int) -> float:
    fields = {"tracing": tracing} if tracing is not None else {}
    config = r.compiled(
        [r.listener("l", "127.0.20.1", 0, "rc", **fields)],
        [r.route_config("rc", r.vhost("v", ["*"], r.to_cluster("web")))],
        {"web": [(web.host, web.port)], "otel": []},
    )
    await proxy.apply(config)
    address = proxy.address_of("l")
    assert address is not None
    connection = await Connection.open(*address)
    request = get("/api/items", headers={"x-tenant": "acme", "user-agent": "bench/1.0"})
    for _ in range(_WARMUP):
        await connection.request(request)
    started = time.process_time()
    for _ in range(requests):
        await connection.request(request)
    spent = time.process_time() - started
    await connection.close()
    return spent / requests * 1e6


async def main(requests: int, repeats: int) -> None:
    proxy = Proxy()
    web = await EchoBackend("web", "127.0.20.2").start()
    policy = TracingPolicy(
        cluster="otel",
        authority="otel:4317",
        grpc=True,
        service_name="gw",
        random_sampling=1.0,
        add=(CelAttribute("tenant", 'request.headers["x-tenant"]'),),
    )
    tracing = build_tracing(policy)
    off, on = [], []
    for _ in range(repeats):
        off.append(await cpu_per_request(proxy, web, None, requests))
        on.append(await cpu_per_request(proxy, web, tracing, requests))
    print(
        f"client+proxy+backend CPU per request: tracing off {min(off):.1f} us, "
        f"on {min(on):.1f} us; tracing adds {min(on) - min(off):.1f} us "
        f"(spans dropped {proxy.stats.spans_dropped})"
    )
    await proxy.close()
    await web.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.requests, args.repeats))
