"""gRPC unary requests per second through the agw proxy and through Envoy, in one run.

Usage: .venv/bin/python tools/bench_grpc.py [--duration 10] [--clients 2] [--channels 8]
           [--concurrency 8] [--workers 1] [--payload 64] [--dataplanes python,envoy]

For each data plane, ``agw run DIR --dataplane python|envoy`` serves a temp directory holding
a Gateway (HTTP listener), a GRPCRoute to ``bench.Echo/Unary`` and the backend's Service and
EndpointSlice, so both proxies get the same translated config. The backend is a grpc.aio
server in its own process; the load is ``--clients`` grpc.aio client processes (one Python gRPC
client tops out near 3,000 calls/s) with ``--channels`` channels each (one HTTP/2 connection
each) and ``--concurrency`` calls in flight per channel, for ``--duration`` seconds after a
warm-up; their rates are added. Everything shares this machine's cores, so the figures compare
the proxies under the same contention rather than give either one's ceiling. The backend
alone (no proxy) is measured too, as the ceiling the clients and backend allow here; when the
proxied rate is near it, the proxy is not the bottleneck and its CPU time per request (every
process ``agw run`` started: the proxy and its workers, or Envoy) is the figure to compare. Traffic
stays on 127.0.23.0/24 (gateways) and 127.0.24.1 (backend). Every wait has a deadline.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
BACKEND_HOST = "127.0.24.1"
GATEWAY_POOL = "127.0.23.0/24"
GATEWAY_PORT = 8080
AUTHORITY = "grpc.bench.example.com"
METHOD = "/bench.Echo/Unary"
START_DEADLINE = 60.0


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


# --- the backend and the load, each in its own process ----------------------------------------


async def serve(address: str) -> None:
    import grpc

    def unary(request: bytes, context: Any) -> bytes:
        return request

    handler = grpc.method_handlers_generic_handler(
        "bench.Echo",
        {
            "Unary": grpc.unary_unary_rpc_method_handler(
                unary, request_deserializer=None, response_serializer=None
            )
        },
    )
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port(address)
    await server.start()
    print("ready", flush=True)
    await server.wait_for_termination()


async def load(target: str, duration: float, channels: int, concurrency: int, size: int) -> None:
    import grpc

    payload = b"x" * size
    options = [("grpc.default_authority", AUTHORITY), ("grpc.use_local_subchannel_pool", 1)]
    opened = [grpc.aio.insecure_channel(target, options=options) for _ in range(channels)]
    calls = [channel.unary_unary(METHOD) for channel in opened]
    for call in calls:
        await call(payload, timeout=10)
    counts = [0]
    errors = [0]
    loop = asyncio.get_running_loop()

    async def worker(call: Any, until: float) -> None:
        while loop.time() < until:
            try:
                await call(payload, timeout=10)
                counts[0] += 1
            except grpc.RpcError:
                errors[0] += 1

    warm_until = loop.time() + min(2.0, duration / 4)
    await asyncio.gather(*(worker(call, warm_until) for call in calls for _ in range(concurrency)))
    warm = counts[0] + len(calls)
    counts[0] = errors[0] = 0
    started = loop.time()
    until = started + duration
    await asyncio.gather(*(worker(call, until) for call in calls for _ in range(concurrency)))
    elapsed = loop.time() - started
    for channel in opened:
        await channel.close()
    rate = counts[0] / elapsed
    print(json.dumps({"rps": rate, "errors": errors[0], "calls": counts[0] + warm}))


# --- orchestration ----------------------------------------------------------------------------


def manifests(backend_port: int) -> str:
    docs: list[dict[str, Any]] = [
        {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "GatewayClass",
            "metadata": {"name": "agw"},
            "spec": {"controllerName": "agentgateway.dev/agentgateway"},
        },
        {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "Gateway",
            "metadata": {"name": "bench", "namespace": "default"},
            "spec": {
                "gatewayClassName": "agw",
                "listeners": [{"name": "http", "port": GATEWAY_PORT, "protocol": "HTTP"}],
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "echo", "namespace": "default"},
            "spec": {"ports": [{"name": "grpc", "port": 50051, "targetPort": backend_port}]},
        },
        {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "name": "echo-1",
                "namespace": "default",
                "labels": {"kubernetes.io/service-name": "echo"},
            },
            "addressType": "IPv4",
            "ports": [{"name": "grpc", "port": backend_port}],
            "endpoints": [{"addresses": [BACKEND_HOST]}],
        },
        {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "GRPCRoute",
            "metadata": {"name": "echo", "namespace": "default"},
            "spec": {
                "parentRefs": [{"name": "bench"}],
                "hostnames": [AUTHORITY],
                "rules": [
                    {
                        "matches": [{"method": {"service": "bench.Echo", "method": "Unary"}}],
                        "backendRefs": [{"name": "echo", "port": 50051}],
                    }
                ],
            },
        },
    ]
    return yaml.safe_dump_all(docs, sort_keys=False)


def wait_until(probe: Any, what: str, deadline: float = START_DEADLINE) -> Any:
    until = time.monotonic() + deadline
    while time.monotonic() < until:
        result = probe()
        if result:
            return result
        time.sleep(0.1)
    raise RuntimeError(f"{what}: not reached within {deadline}s")


def admin_json(admin: str, path: str) -> Any:
    try:
        with urllib.request.urlopen(f"http://{admin}{path}", timeout=2) as response:
            return json.loads(response.read())
    except (OSError, ValueError):
        return None


def gateway_address(admin: str) -> str | None:
    listing = admin_json(admin, "/debug/resources?kind=Gateway") or {}
    for gateway in listing.get("objects", []):
        addresses = gateway.get("status", {}).get("addresses") or []
        if gateway["metadata"]["name"] == "bench" and addresses:
            return str(addresses[0]["value"])
    return None


@contextlib.contextmanager
def process(command: list[str], log: Path, ready_line: str | None = None) -> Iterator[Any]:
    with open(log, "wb") as output:
        child = subprocess.Popen(
            command,
            cwd=ROOT,
            stdout=subprocess.PIPE if ready_line else output,
            stderr=output,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    try:
        if ready_line and child.stdout is not None:
            line = child.stdout.readline().decode().strip()
            if line != ready_line:
                raise RuntimeError(f"{command[:4]} did not start: {log.read_text()[-2000:]}")
        yield child
    finally:
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(20)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(10)


TICKS = os.sysconf("SC_CLK_TCK")


def descendants_cpu(root: int) -> float:
    """CPU seconds (user + system) of every live descendant of ``root``, not ``root`` itself."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        parents[int(entry.name)] = int(fields[1])
        times[int(entry.name)] = (int(fields[11]) + int(fields[12])) / TICKS
    total = 0.0
    for pid in times:
        ancestor = parents.get(pid, 0)
        # /proc parent links end at pid 1 or 0; the depth is bounded by the process count.
        for _ in range(len(parents)):
            if ancestor in (0, 1) or ancestor == root:
                break
            ancestor = parents.get(ancestor, 0)
        if ancestor == root:
            total += times[pid]
    return total


@contextlib.contextmanager
def gateway(
    dataplane: str, directory: Path, backend_port: int, workers: int
) -> Iterator[tuple[str, int]]:
    config = directory / f"config-{dataplane}"
    config.mkdir()
    (config / "bench.yaml").write_text(manifests(backend_port))
    admin = f"127.0.0.1:{free_port()}"
    command = [
        sys.executable, "-m", "controlplane.cli", "run", str(config),
        "--dataplane", dataplane, "--workers", str(workers),
        "--address-pool", GATEWAY_POOL, "--admin-address", admin,
        "--xds-address", f"127.0.0.1:{free_port()}",
    ]  # fmt: skip
    with process(command, directory / f"agw-run-{dataplane}.log") as child:
        address = wait_until(lambda: gateway_address(admin), f"{dataplane} gateway address")
        yield f"{address}:{GATEWAY_PORT}", child.pid


def run_load(target: str, args: argparse.Namespace, proxy_root: int = 0) -> dict[str, Any]:
    """Wait until ``target`` serves, then run every client at once and add their rates; with
    ``proxy_root``, also the CPU its descendants spent per request."""
    probe = _load_command(target, args, duration=0.2, channels=1, concurrency=1)
    deadline = time.monotonic() + START_DEADLINE
    # The gateway may still be applying its config: retry a short load until it is served.
    while subprocess.run(probe, capture_output=True, timeout=60, check=False).returncode:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{target} does not serve gRPC")
        time.sleep(0.5)
    command = _load_command(target, args, args.duration, args.channels, args.concurrency)
    cpu_before = descendants_cpu(proxy_root) if proxy_root else 0.0
    clients = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(args.clients)
    ]
    total = {"rps": 0.0, "errors": 0, "calls": 0}
    for client in clients:
        out, err = client.communicate(timeout=args.duration + 60)
        if client.returncode:
            raise RuntimeError(f"load against {target} failed: {err[-2000:]}")
        result = json.loads(out.strip().splitlines()[-1])
        for key in total:
            total[key] += result[key]
    if proxy_root:
        # Over every call a client made, warm-up included (the rates leave the warm-up out).
        spent = descendants_cpu(proxy_root) - cpu_before
        total["cpu_us"] = spent / max(total["calls"], 1) * 1e6
    return total


def _load_command(
    target: str, args: argparse.Namespace, duration: float, channels: int, concurrency: int
) -> list[str]:
    return [
        sys.executable, str(Path(__file__).resolve()), "--load", target,
        "--duration", str(duration), "--channels", str(channels),
        "--concurrency", str(concurrency), "--payload", str(args.payload),
    ]  # fmt: skip


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--channels", type=int, default=8)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--payload", type=int, default=64)
    parser.add_argument("--dataplanes", default="python,envoy")
    parser.add_argument("--serve", metavar="HOST:PORT", help=argparse.SUPPRESS)
    parser.add_argument("--load", metavar="HOST:PORT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        asyncio.run(serve(args.serve))
        return 0
    if args.load:
        asyncio.run(load(args.load, args.duration, args.channels, args.concurrency, args.payload))
        return 0
    results: dict[str, dict[str, Any]] = {}
    backend_port = free_port(BACKEND_HOST)
    with tempfile.TemporaryDirectory(prefix="agw-bench-grpc-") as temp:
        directory = Path(temp)
        serve_command = [
            sys.executable, str(Path(__file__).resolve()), "--serve",
            f"{BACKEND_HOST}:{backend_port}",
        ]  # fmt: skip
        with process(serve_command, directory / "backend.log", ready_line="ready"):
            results["direct"] = run_load(f"{BACKEND_HOST}:{backend_port}", args)
            for dataplane in args.dataplanes.split(","):
                with gateway(dataplane, directory, backend_port, args.workers) as started:
                    results[dataplane] = run_load(started[0], args, started[1])
    print(
        f"gRPC unary, {args.clients} clients x {args.channels} channels x "
        f"{args.concurrency} in flight, "
        f"{args.payload} B payload, {args.duration:g}s, proxy workers {args.workers}"
    )
    for name, result in results.items():
        cpu = f"  proxy CPU {result['cpu_us']:6.0f} us/req" if "cpu_us" in result else ""
        print(f"  {name:8} {result['rps']:9.0f} req/s  errors {result['errors']}{cpu}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
