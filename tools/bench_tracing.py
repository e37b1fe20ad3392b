"""CPU per request that tracing adds on the agw proxy.

Usage: .venv/bin/python tools/bench_tracing.py [--requests 2000] [--repeats 9] [--profile]

One process runs a keep-alive HTTP/1.1 client, the real proxy and an echo backend on
loopback; the CPU per request of the three together is measured without tracing and with
the tracing the translator emits for a policy sampling every request (the default span
attributes: eight command operators, plus one CEL attribute). The collector's cluster has no
endpoint, so spans are built, queued and encoded in batches (the exporter's background task
runs inside the measured loop) but no collector's CPU is counted, nor the export's network
I/O. Runs alternate off and on, each after a full garbage collection; reports the best and the
median of ``--repeats`` runs of each, and the difference of the bests (the machine is shared:
repeat, and compare bests).

``--profile`` instead runs one traced pass under cProfile and lists where the tracing code's
time goes (cProfile's own overhead inflates small functions: read it for shares, not µs).

Before/after: the script measures the tree it lives in. To measure an earlier commit with
the same venv, export that commit, put this script in it (so both sides are measured alike)
and run the copy::

    git archive <commit> | tar -x -C /tmp/before
    cp tools/bench_tracing.py /tmp/before/tools/
    .venv/bin/python /tmp/before/tools/bench_tracing.py
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import pstats
import statistics
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
# The modules whose functions --profile lists.
_TRACING_CODE = r"dataplane/(tracing|otlp|span_export|access_line|config/tracing|cel/)|/cel/"


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
    gc.collect()
    started = time.process_time()
    for _ in range(requests):
        await connection.request(request)
    spent = time.process_time() - started
    await connection.close()
    return spent / requests * 1e6


def traced_policy() -> Any:
    policy = TracingPolicy(
        cluster="otel",
        authority="otel:4317",
        grpc=True,
        service_name="gw",
        random_sampling=1.0,
        add=(CelAttribute("tenant", 'request.headers["x-tenant"]'),),
    )
    return build_tracing(policy)


async def compare(proxy: Proxy, web: EchoBackend, requests: int, repeats: int) -> None:
    tracing = traced_policy()
    off, on = [], []
    for _ in range(repeats):
        off.append(await cpu_per_request(proxy, web, None, requests))
        on.append(await cpu_per_request(proxy, web, tracing, requests))
    print(
        f"client+proxy+backend CPU per request (best / median of {repeats}): "
        f"tracing off {min(off):.1f} / {statistics.median(off):.1f} us, "
        f"on {min(on):.1f} / {statistics.median(on):.1f} us; "
        f"tracing adds {min(on) - min(off):.1f} us (spans dropped {proxy.stats.spans_dropped})"
    )


async def profile(proxy: Proxy, web: EchoBackend, requests: int) -> None:
    tracing = traced_policy()
    await cpu_per_request(proxy, web, tracing, _WARMUP)
    profiler = cProfile.Profile()
    profiler.enable()
    await cpu_per_request(proxy, web, tracing, requests)
    profiler.disable()
    stats = pstats.Stats(profiler).sort_stats("cumulative")
    stats.print_stats(_TRACING_CODE, 30)


async def main(requests: int, repeats: int, with_profile: bool) -> None:
    proxy = Proxy()
    web = await EchoBackend("web", "127.0.20.2").start()
    try:
        if with_profile:
            await profile(proxy, web, requests)
        else:
            await compare(proxy, web, requests, repeats)
    finally:
        await proxy.close()
        await web.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--profile", action="store_true", help="profile one traced pass")
    args = parser.parse_args()
    asyncio.run(main(args.requests, args.repeats, args.profile))
