"""Route propagation: with N HTTPRoutes attached, write one more HTTPRoute into the directory
that `agw run` serves and time how long until the first 200 through the proxy.

    .venv/bin/python tools/bench/propagation.py --routes 1000 --trials 20 --dataplane python

Everything runs on loopback: the gateway gets 127.0.70.1, one `agw echo` backend listens on
127.0.71.1. Each trial writes a new route file (with a new hostname) and polls the gateway
every millisecond, for at most --timeout seconds; the route is deleted again before the next.
Prints mean, p50, p99 and max in milliseconds."""

from __future__ import annotations

import argparse
import http.client
import json
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GATEWAY_IP = "127.0.70.1"
BACKEND = ("127.0.71.1", 9100)
PORT = 8080


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def base_manifests() -> list[dict[str, object]]:
    return [
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
                "addresses": [{"type": "IPAddress", "value": GATEWAY_IP}],
                "listeners": [{"name": "http", "port": PORT, "protocol": "HTTP"}],
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "echo", "namespace": "default"},
            "spec": {"ports": [{"name": "http", "port": 80, "targetPort": BACKEND[1]}]},
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
            "ports": [{"name": "http", "port": BACKEND[1]}],
            "endpoints": [{"addresses": [BACKEND[0]]}],
        },
    ]


def route(name: str, host: str) -> dict[str, object]:
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "parentRefs": [{"name": "bench"}],
            "hostnames": [host],
            "rules": [
                {
                    "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                    "backendRefs": [{"name": "echo", "port": 80}],
                }
            ],
        },
    }


def write(path: Path, docs: list[dict[str, object]]) -> None:
    tmp = path.with_name("." + path.name + ".tmp")
    tmp.write_text("\n---\n".join(json.dumps(doc) for doc in docs))
    tmp.replace(path)


def status_of(host: str) -> int:
    connection = http.client.HTTPConnection(GATEWAY_IP, PORT, timeout=1)
    try:
        connection.request("GET", "/", headers={"Host": host})
        return connection.getresponse().status
    except OSError:
        return 0
    finally:
        connection.close()


def wait_for(
    predicate: Callable[[], bool], timeout: float, interval: float = 0.001
) -> float | None:
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if predicate():
            return time.perf_counter() - start
        time.sleep(interval)
    return None


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--routes", type=int, default=1000)
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--dataplane", choices=("python", "envoy"), default="python")
    parser.add_argument("--timeout", type=float, default=30.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="agw-bench-") as work:
        config = Path(work)
        write(config / "base.yaml", base_manifests())
        write(
            config / "routes.yaml",
            [route(f"r{i}", f"r{i}.example.com") for i in range(args.routes)],
        )
        admin = f"127.0.0.1:{free_port()}"
        agw = [sys.executable, "-m", "controlplane.cli"]
        echo = subprocess.Popen(
            [*agw, "echo", "--listen", f"{BACKEND[0]}:{BACKEND[1]}"],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        gateway = subprocess.Popen(
            [
                *agw,
                "run",
                str(config),
                "--dataplane",
                args.dataplane,
                "--address-pool",
                "127.0.70.0/24",
                "--admin-address",
                admin,
                "--xds-address",
                f"127.0.0.1:{free_port()}",
            ],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            ready = wait_for(lambda: status_of(f"r{args.routes - 1}.example.com") == 200, 120, 0.05)
            if ready is None:
                print("the gateway never served the initial routes", file=sys.stderr)
                return 1
            samples = []
            for trial in range(args.trials):
                host = f"new{trial}.example.com"
                path = config / "new.yaml"
                write(path, [route(f"new{trial}", host)])
                took = wait_for(lambda h=host: status_of(h) == 200, args.timeout)
                if took is None:
                    print(f"trial {trial}: not served within {args.timeout}s", file=sys.stderr)
                    return 1
                samples.append(took * 1000)
                path.unlink()
                wait_for(lambda h=host: status_of(h) == 404, args.timeout)
            samples.sort()
            p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
            print(
                json.dumps(
                    {
                        "dataplane": args.dataplane,
                        "routes": args.routes,
                        "trials": args.trials,
                        "mean_ms": round(statistics.mean(samples), 1),
                        "p50_ms": round(statistics.median(samples), 1),
                        "p99_ms": round(p99, 1),
                        "max_ms": round(samples[-1], 1),
                    }
                )
            )
            return 0
        finally:
            for process in (gateway, echo):
                process.send_signal(signal.SIGTERM)
            for process in (gateway, echo):
                try:
                    process.wait(20)
                except subprocess.TimeoutExpired:
                    process.kill()


if __name__ == "__main__":
    sys.exit(main())
