"""Per-request cost of CEL header values: agw's compiled closures vs cel-python.

Usage: .venv/bin/python tools/bench_cel.py [--requests 20000] [--repeats 5]
           [--dataplane-json FILE | --proxy-cpu-us US]

The policy sets three headers from CEL, as an agentgateway transformation would:
``request.headers["x-user"]``, ``jwt.sub + "-" + request.path`` and
``request.method == "GET" ? "r" : "w"``, on a request with 12 headers and a JWT. Modes:

- ``agw compiled``: compiled once; per request a fresh ``Activation`` over the proxy's
  ``RequestHead`` (through ``dataplane.cel.HeadFacts``) and three evaluations.
- ``celpy evaluator``: compiled once by cel-python; per request the activation it needs (the
  request converted to celpy types) and its tree-walking evaluation.
- ``celpy parse per request``: what a proxy that does not cache would pay.

CPU time per request is the best of ``--repeats`` runs (process time). The proxy's own CPU per
request comes from ``tools/bench_dataplane.py --json FILE`` (``--dataplane-json``) or is given.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import celpy
from celpy.adapter import json_to_cel

from cel import Activation, compile_expression
from dataplane.cel import HeadFacts
from dataplane.request import RequestHead

EXPRESSIONS = (
    'request.headers["x-user"]',
    'jwt.sub + "-" + request.path',
    'request.method == "GET" ? "r" : "w"',
)
CLAIMS = {"sub": "alice", "iss": "https://issuer.example", "groups": ["dev"], "exp": 1893456000}


def request_head() -> RequestHead:
    headers = [(b"x-user", b"alice"), (b"user-agent", b"bench/1.0"), (b"accept", b"*/*")]
    headers += [(f"x-extra-{i}".encode(), b"value") for i in range(9)]
    return RequestHead(b"GET", b"/api/items", b"page=2", b"api.example.com", b"http", headers)


def agw_compiled(head: RequestHead) -> Callable[[], list[Any]]:
    programs = [compile_expression(source) for source in EXPRESSIONS]

    def one_request() -> list[Any]:
        activation = Activation(HeadFacts(head), jwt=CLAIMS)
        return [program.evaluate(activation) for program in programs]

    return one_request


def celpy_context(head: RequestHead) -> dict[str, Any]:
    headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in head.headers}
    request = {
        "method": head.method.decode(),
        "path": head.path.decode(),
        "host": head.host.decode(),
        "headers": headers,
    }
    return {"request": json_to_cel(request), "jwt": json_to_cel(CLAIMS)}


def celpy_evaluator(head: RequestHead) -> Callable[[], list[Any]]:
    environment = celpy.Environment()
    programs = [environment.program(environment.compile(source)) for source in EXPRESSIONS]

    def one_request() -> list[Any]:
        context = celpy_context(head)
        return [program.evaluate(context) for program in programs]

    return one_request


def celpy_parse_per_request(head: RequestHead) -> Callable[[], list[Any]]:
    environment = celpy.Environment()

    def one_request() -> list[Any]:
        context = celpy_context(head)
        programs = [environment.program(environment.compile(source)) for source in EXPRESSIONS]
        return [program.evaluate(context) for program in programs]

    return one_request


def cpu_us_per_call(call: Callable[[], object], requests: int, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.process_time()
        for _ in range(requests):
            call()
        best = min(best, time.process_time() - started)
    return best / requests * 1e6


def proxy_cpu_us(args: argparse.Namespace) -> float | None:
    if args.proxy_cpu_us is not None:
        return float(args.proxy_cpu_us)
    if args.dataplane_json is None:
        return None
    summary = json.loads(args.dataplane_json.read_text())
    return float(summary["medians"]["agw"]["cpu_us_per_request"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--dataplane-json", type=Path, default=None)
    parser.add_argument("--proxy-cpu-us", type=float, default=None)
    args = parser.parse_args()
    head = request_head()
    modes = [
        ("agw compiled", agw_compiled(head), args.requests),
        ("celpy evaluator", celpy_evaluator(head), max(args.requests // 20, 50)),
        ("celpy parse per request", celpy_parse_per_request(head), max(args.requests // 400, 10)),
    ]
    expected = agw_compiled(head)()
    proxy = proxy_cpu_us(args)
    print(f"{'mode':<26}{'us/request':>12}{'vs compiled':>13}{'vs proxy CPU':>14}")
    baseline = None
    for name, call, requests in modes:
        assert [str(value) for value in call()] == [str(value) for value in expected], name
        cost = cpu_us_per_call(call, requests, args.repeats)
        baseline = baseline or cost
        share = f"{cost / proxy:>13.1%}" if proxy else f"{'n/a':>13}"
        print(f"{name:<26}{cost:>12.2f}{cost / baseline:>12.1f}x {share}")
    if proxy:
        print(f"proxy CPU per request (tools/bench_dataplane.py): {proxy:.1f} us")
    return 0


if __name__ == "__main__":
    sys.exit(main())
