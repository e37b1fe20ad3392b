"""Data-plane throughput: tools/bench_dataplane.py (agw proxy vs Envoy, same xDS config,
same backend, same core, same run) for HTTP/1.1, HTTP/2 and HTTPS, as data.

    .venv/bin/python -m tools.bench.throughput --duration 10 --rounds 2

Each protocol is one subprocess of the data-plane benchmark, so its core pinning and its
own addresses (127.0.22.x) apply unchanged; its JSON summary carries the medians per proxy
and the agw/Envoy ratios, both measured in that one run."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PROTOCOLS = ("http1", "http2", "https")
PROTOCOL_LABELS = {"http1": "HTTP/1.1", "http2": "HTTP/2", "https": "HTTPS (HTTP/1.1 + TLS)"}


class ThroughputFailed(Exception):
    pass


@dataclass(frozen=True)
class ThroughputResult:
    protocol: str
    duration_s: float
    rounds: int
    backend: str
    medians: dict[str, dict[str, float]]  # "agw"/"envoy" -> metric -> value
    ratios: dict[str, float | None]  # metric -> agw / envoy

    def as_dict(self) -> dict[str, Any]:
        return {
            "protocol": self.protocol,
            "duration_s": self.duration_s,
            "rounds": self.rounds,
            "backend": self.backend,
            "medians": self.medians,
            "ratios": self.ratios,
        }


def run_throughput(
    protocol: str,
    duration: float,
    rounds: int,
    *,
    backend: str = "nginx",
    timeout: float | None = None,
) -> ThroughputResult:
    """``backend`` "uvloop" spares installing nginx where it is missing (wrk or h2load are
    still installed from Debian when absent)."""
    # warm-up, unloaded probe and start-up each cost seconds per proxy and round
    limit = timeout if timeout is not None else rounds * 2 * (duration + 40) + 60
    with tempfile.TemporaryDirectory(prefix="agw-bench-throughput-") as work:
        summary = Path(work) / "summary.json"
        command = [
            sys.executable, str(ROOT / "tools" / "bench_dataplane.py"), "--protocol", protocol,
            "--duration", str(duration), "--rounds", str(rounds), "--json", str(summary),
            "--backend", backend,
        ]  # fmt: skip
        # Its own session: on timeout or interruption its proxies and backend go too.
        process = subprocess.Popen(
            command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True,
        )  # fmt: skip
        try:
            output, _ = process.communicate(timeout=limit)
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            raise
        if process.returncode != 0 or not summary.exists():
            raise ThroughputFailed(f"{protocol}: exit {process.returncode}\n{output[-2000:]}")
        data = json.loads(summary.read_text())
    return ThroughputResult(protocol, duration, rounds, backend, data["medians"], data["ratios"])


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--protocols", nargs="+", choices=PROTOCOLS, default=list(PROTOCOLS))
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    for protocol in args.protocols:
        result = run_throughput(protocol, args.duration, args.rounds)
        print(json.dumps(result.as_dict()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
