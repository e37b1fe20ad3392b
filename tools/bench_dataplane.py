"""Benchmark the agw proxy against Envoy on the same configuration, backend and core.

Usage: .venv/bin/python tools/bench_dataplane.py [--duration 10] [--rounds 2] [--routes 0]
           [--connections 50] [--backend nginx|uvloop] [--profile]
           [--protocol http1|http2|https] [--streams 10] [--json FILE]

Both proxies get the SAME xDS protos: agw compiles them with ``dataplane.config``; Envoy gets
them in a static bootstrap (RDS inlined as route_config, EDS as a STATIC load_assignment),
``--concurrency 1``. Each proxy is pinned to core 0; wrk and the backend share core 1. Rounds
alternate agw and Envoy; the median per metric is printed with the agw/Envoy ratio. CPU per
request is the proxy's utime+stime over the run divided by the requests served; RSS is read
after the run. Installs wrk (and nginx, for the default backend) from Debian if missing.
Traffic stays on 127.0.22.0/24.

``--protocol http2`` drives the proxies with h2load (Debian's nghttp2-client, installed if
missing) over cleartext HTTP/2 with prior knowledge: ``--connections`` clients with
``--streams`` concurrent streams each (defaults for HTTP/2: 10 x 10); the backend stays
HTTP/1.1. Latency percentiles come from h2load's per-request log.

``--protocol https`` is HTTP/1.1 over TLS (a fresh self-signed certificate inline in the
listener, ALPN http/1.1) driven by wrk. ``--json FILE`` also writes the medians per proxy and
the agw/Envoy ratios, for ``tools/bench``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from google.protobuf import json_format  # noqa: E402

from tests.dataplane import resources as r  # noqa: E402

PROXY_HOST, BACKEND_HOST = "127.0.22.1", "127.0.22.2"
PROXY_PORT, BACKEND_PORT = 18500, 18501
PROXY_CORE, LOAD_CORE = "0", "1"
TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Result:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    cpu_us_per_request: float
    rss_mib: float
    unloaded_p50_ms: float


def build_resources(routes: int, tls: bool = False) -> tuple[Any, Any, Any, Any]:
    """One listener, one catch-all virtual host; ``routes`` extra virtual hosts before it."""
    extra = [
        r.vhost(
            f"vh{i}",
            [f"host{i}.example.com"],
            *[r.to_cluster("web", f"/p{i}/{j}") for j in range(10)],
        )
        for i in range(routes // 10)
    ]
    main = r.vhost("main", ["*"], r.to_cluster("web", "/"))
    main.routes[0].route.retry_policy.retry_on = "connect-failure"
    route_config = r.route_config("rc", *extra, main)
    listener = r.listener("bench", PROXY_HOST, PROXY_PORT, "rc", use_remote_address={"value": True})
    if tls:
        add_inline_tls(listener)
    cluster = r.cluster("web", connect_timeout=1.0)
    assignment = r.load_assignment("web", (BACKEND_HOST, BACKEND_PORT))
    return listener, route_config, cluster, assignment


def add_inline_tls(listener: Any) -> None:
    """Terminate TLS on the listener's only filter chain with a throwaway certificate."""
    import trustme
    from envoy.extensions.transport_sockets.tls.v3 import tls_pb2

    issued = trustme.CA().issue_cert(PROXY_HOST)
    context = tls_pb2.DownstreamTlsContext()
    context.common_tls_context.alpn_protocols.append("http/1.1")
    certificate = context.common_tls_context.tls_certificates.add()
    certificate.certificate_chain.inline_bytes = b"".join(
        blob.bytes() for blob in issued.cert_chain_pems
    )
    certificate.private_key.inline_bytes = issued.private_key_pem.bytes()
    chain = listener.filter_chains[0]
    chain.transport_socket.name = "envoy.transport_sockets.tls"
    chain.transport_socket.typed_config.Pack(context)


def envoy_bootstrap(routes: int, tls: bool = False) -> dict[str, Any]:
    from envoy.config.cluster.v3 import cluster_pb2
    from envoy.extensions.filters.network.http_connection_manager.v3 import (
        http_connection_manager_pb2 as hcm_pb2,
    )

    listener, route_config, cluster, assignment = build_resources(routes, tls)
    manager = hcm_pb2.HttpConnectionManager()
    listener.filter_chains[0].filters[0].typed_config.Unpack(manager)
    manager.ClearField("rds")
    manager.route_config.CopyFrom(route_config)
    listener.filter_chains[0].filters[0].typed_config.Pack(manager)
    cluster.type = cluster_pb2.Cluster.STATIC
    cluster.ClearField("eds_cluster_config")
    cluster.load_assignment.CopyFrom(assignment)
    return {
        "static_resources": {
            "listeners": [json_format.MessageToDict(listener)],
            "clusters": [json_format.MessageToDict(cluster)],
        }
    }


async def serve_agw(routes: int, tls: bool = False) -> None:
    """Child mode: run the agw proxy on the benchmark config until SIGTERM."""
    from dataplane.config import XdsResources, compile_config
    from dataplane.proxy import Proxy

    listener, route_config, cluster, assignment = build_resources(routes, tls)
    config = compile_config(
        XdsResources(
            listeners={listener.name: listener},
            route_configs={route_config.name: route_config},
            clusters={cluster.name: cluster},
            load_assignments={cluster.name: assignment},
        )
    )
    proxy = Proxy()
    await proxy.apply(config)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    print("ready", flush=True)
    await stop.wait()
    await proxy.close()


def run_agw_child(routes: int, profile: bool, tls: bool = False) -> None:
    try:
        import uvloop
    except ImportError:  # plain asyncio still works, only slower
        uvloop = None
    if profile:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        profiler.enable()
    if uvloop is not None:
        uvloop.run(serve_agw(routes, tls))
    else:
        asyncio.run(serve_agw(routes, tls))
    if profile:
        profiler.disable()
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(25)


def ensure_tool(binary: str, package: str) -> str:
    found = shutil.which(binary) or (
        f"/usr/sbin/{binary}" if Path(f"/usr/sbin/{binary}").exists() else None
    )
    if found:
        return found
    subprocess.run(["apt-get", "update", "-qq"], check=False)
    subprocess.run(["apt-get", "install", "-y", "-qq", package], check=True)
    found = shutil.which(binary) or f"/usr/sbin/{binary}"
    return found


def wait_for_port(host: str, port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {host}:{port}")


def start_backend(kind: str, workdir: Path) -> subprocess.Popen[bytes]:
    if kind == "nginx":
        nginx = ensure_tool("nginx", "nginx-light")
        conf = workdir / "nginx.conf"
        conf.write_text(
            f"""worker_processes 1;
daemon off;
pid {workdir}/nginx.pid;
error_log {workdir}/nginx-error.log;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  keepalive_requests 1000000;
  keepalive_timeout 300s;
  server {{
    listen {BACKEND_HOST}:{BACKEND_PORT} backlog=4096;
    location / {{ return 200 "hello from the backend\\n"; }}
  }}
}}
"""
        )
        command = [nginx, "-c", str(conf), "-p", str(workdir)]
    else:
        command = [sys.executable, str(Path(__file__)), "--serve-backend"]
    process = subprocess.Popen(["taskset", "-c", LOAD_CORE, *command])
    wait_for_port(BACKEND_HOST, BACKEND_PORT)
    return process


async def minimal_backend() -> None:
    """A tiny uvloop HTTP/1.1 backend for machines without nginx: fixed 200 answers."""

    class Answer(asyncio.Protocol):
        def connection_made(self, transport: Any) -> None:
            self.transport = transport
            self.buffer = b""

        def data_received(self, data: bytes) -> None:
            self.buffer += data
            count = self.buffer.count(b"\r\n\r\n")
            if count:
                self.buffer = self.buffer[self.buffer.rfind(b"\r\n\r\n") + 4 :]
                body = b"hello from the backend\n"
                reply = b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%b" % (len(body), body)
                self.transport.write(reply * count)

    loop = asyncio.get_running_loop()
    server = await loop.create_server(Answer, BACKEND_HOST, BACKEND_PORT, backlog=4096)
    await server.serve_forever()


def process_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def process_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def wrk(connections: int, duration: float, url: str) -> tuple[float, float, float, int]:
    output = subprocess.run(
        [
            "taskset",
            "-c",
            LOAD_CORE,
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{max(1, round(duration))}s",
            "--latency",
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]

    def percentile(label: str) -> float:
        value, unit = re.search(rf"{label}%\s+([\d.]+)(us|ms|s)", output).groups()  # type: ignore[union-attr]
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    return rps, percentile("50"), percentile("99"), total


def h2load(
    connections: int, streams: int, duration: float, url: str
) -> tuple[float, float, float, int]:
    """Requests/s, p50 and p99 in ms, and the requests completed, from one h2load run."""
    with tempfile.NamedTemporaryFile(prefix="agw-h2load-", suffix=".log") as log:
        output = subprocess.run(
            [
                "taskset", "-c", LOAD_CORE, "h2load", "-t1", f"-c{connections}",
                f"-m{streams}", f"-D{max(1, round(duration))}", f"--log-file={log.name}", url,
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout  # fmt: skip
        latencies = sorted(
            int(line.split("\t")[2]) for line in Path(log.name).read_text().splitlines() if line
        )
    rps = float(re.search(r"finished in [\d.]+\w+, ([\d.]+) req/s", output).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"requests: \d+ total, \d+ started, (\d+) done", output).group(1))  # type: ignore[union-attr]
    if not latencies:
        return rps, 0.0, 0.0, total

    def percentile(share: float) -> float:
        return latencies[min(len(latencies) - 1, int(len(latencies) * share))] / 1000.0

    return rps, percentile(0.5), percentile(0.99), total


def measure(
    pid: int, connections: int, duration: float, streams: int = 0, scheme: str = "http"
) -> Result:
    url = f"{scheme}://{PROXY_HOST}:{PROXY_PORT}/"
    if streams:
        h2load(connections, streams, min(1.0, duration), url)  # warm-up: connections, pools
        _, unloaded_p50, _, _ = h2load(1, 1, min(2.0, duration), url)
        before = process_cpu_seconds(pid)
        rps, p50, p99, total = h2load(connections, streams, duration, url)
    else:
        wrk(connections, min(1.0, duration), url)  # warm-up: connections, pools, caches
        _, unloaded_p50, _, _ = wrk(1, min(2.0, duration), url)
        before = process_cpu_seconds(pid)
        rps, p50, p99, total = wrk(connections, duration, url)
    cpu = process_cpu_seconds(pid) - before
    return Result(rps, p50, p99, cpu / max(total, 1) * 1e6, process_rss_mib(pid), unloaded_p50)


def start_proxy(
    kind: str, routes: int, workdir: Path, profile: bool, tls: bool = False
) -> subprocess.Popen[bytes]:
    if kind == "agw":
        command = [sys.executable, str(Path(__file__)), "--serve-agw", "--routes", str(routes)]
        if profile:
            command.append("--profile")
        if tls:
            command.append("--tls")
    else:
        envoy = shutil.which("envoy", path=str(Path(sys.executable).parent)) or "envoy"
        bootstrap = workdir / "envoy.json"
        bootstrap.write_text(json.dumps(envoy_bootstrap(routes, tls)))
        command = [envoy, "-c", str(bootstrap), "--concurrency", "1", "--log-level", "error"]
    process = subprocess.Popen(["taskset", "-c", PROXY_CORE, *command])
    wait_for_port(PROXY_HOST, PROXY_PORT, timeout=30)
    return process


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def median(results: list[Result], field: str) -> float:
    return float(statistics.median(float(getattr(result, field)) for result in results))


def summary(results: dict[str, list[Result]]) -> dict[str, Any]:
    """Medians per proxy and the agw/Envoy ratio of each, as plain data."""
    fields = list(Result.__dataclass_fields__)
    medians = {kind: {f: median(runs, f) for f in fields} for kind, runs in results.items() if runs}
    ratios = {}
    if len(medians) == 2 and all(medians.values()):
        ratios = {
            f: medians["agw"][f] / medians["envoy"][f] if medians["envoy"][f] else None
            for f in fields
        }
    return {"medians": medians, "ratios": ratios}


def report(results: dict[str, list[Result]]) -> None:
    fields = [
        ("requests_per_second", "req/s", "{:,.0f}"),
        ("p50_ms", "p50 ms", "{:.2f}"),
        ("p99_ms", "p99 ms", "{:.2f}"),
        ("cpu_us_per_request", "CPU us/req", "{:.1f}"),
        ("rss_mib", "RSS MiB", "{:.1f}"),
        ("unloaded_p50_ms", "unloaded p50 ms", "{:.3f}"),
    ]
    print(f"{'metric':<18}{'agw':>14}{'envoy':>14}{'agw/envoy':>12}")
    for field, label, fmt in fields:
        agw, envoy = median(results["agw"], field), median(results["envoy"], field)
        ratio = agw / envoy if envoy else float("nan")
        print(f"{label:<18}{fmt.format(agw):>14}{fmt.format(envoy):>14}{ratio:>12.2f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--routes", type=int, default=0)
    parser.add_argument("--connections", type=int, default=None, help="50 (http1), 10 (http2)")
    parser.add_argument("--protocol", choices=("http1", "http2", "https"), default="http1")
    parser.add_argument("--streams", type=int, default=10, help="per connection, HTTP/2 only")
    parser.add_argument("--backend", choices=("nginx", "uvloop"), default="nginx")
    parser.add_argument("--only", choices=("agw", "envoy"), default=None)
    parser.add_argument("--profile", action="store_true", help="cProfile the agw proxy")
    parser.add_argument("--json", type=Path, default=None, help="also write medians as JSON")
    parser.add_argument("--tls", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--serve-agw", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--serve-backend", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_agw:
        run_agw_child(args.routes, args.profile, args.tls)
        return 0
    if args.serve_backend:
        import uvloop

        uvloop.run(minimal_backend())
        return 0
    http2, tls = args.protocol == "http2", args.protocol == "https"
    if args.connections is None:
        args.connections = 10 if http2 else 50
    ensure_tool("h2load" if http2 else "wrk", "nghttp2-client" if http2 else "wrk")
    kinds = [args.only] if args.only else ["agw", "envoy"]
    results: dict[str, list[Result]] = {kind: [] for kind in ("agw", "envoy")}
    with tempfile.TemporaryDirectory(prefix="agw-bench-") as directory:
        workdir = Path(directory)
        backend = start_backend(args.backend, workdir)
        try:
            for round_index in range(args.rounds):
                for kind in kinds:
                    proxy = start_proxy(kind, args.routes, workdir, args.profile, tls)
                    try:
                        result = measure(
                            proxy.pid,
                            args.connections,
                            args.duration,
                            args.streams if http2 else 0,
                            "https" if tls else "http",
                        )
                    finally:
                        stop(proxy)
                    results[kind].append(result)
                    print(f"round {round_index + 1} {kind}: {result}", flush=True)
        finally:
            stop(backend)
    load = f"{args.connections} connections"
    if http2:
        load = f"HTTP/2, {args.connections} connections x {args.streams} streams"
    elif tls:
        load = f"HTTPS (HTTP/1.1 over TLS), {args.connections} connections"
    print(f"\nbackend: {args.backend}; {load}; {args.routes} extra routes")
    if all(results.values()):
        report(results)
    if args.json is not None:
        args.json.write_text(json.dumps(summary(results), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
