"""Time loading N HTTPRoutes from multi-document YAML text (default 10,000).

Usage: .venv/bin/python tools/bench_load.py [--routes N] [--repeat R]

Prints the best of R runs for: YAML decoding plus validation (``load_text``), and building
the ResourceSet from the loaded objects. Each route is realistic: two parentRefs, two
hostnames, three rules with path/header/query matches, a header filter and weighted backends.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from translator.loader import load_text

ROUTE_TEMPLATE = """\
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: route-{index}
  namespace: team-{team}
  creationTimestamp: 2026-01-01T00:00:{second:02d}Z
  labels:
    app.kubernetes.io/name: shop-{index}
spec:
  parentRefs:
  - name: edge
    namespace: infra
    sectionName: https
  - name: edge
    namespace: infra
    sectionName: http
  hostnames:
  - shop-{index}.example.com
  - "*.shop-{index}.example.net"
  rules:
  - name: api
    matches:
    - path: {{type: PathPrefix, value: /api/v1}}
      headers:
      - {{name: x-tenant, value: tenant-{team}}}
    - path: {{type: Exact, value: /api/health}}
      method: GET
    filters:
    - type: RequestHeaderModifier
      requestHeaderModifier:
        set: [{{name: x-route, value: route-{index}}}]
        remove: [x-debug]
    backendRefs:
    - {{name: api-{index}, port: 8080, weight: 90}}
    - {{name: api-canary-{index}, port: 8080, weight: 10}}
    timeouts: {{request: 10s, backendRequest: 2s}}
  - name: static
    matches:
    - path: {{type: PathPrefix, value: /static}}
      queryParams:
      - {{name: v, value: "2"}}
    backendRefs:
    - {{name: static-{index}, port: 80}}
  - backendRefs:
    - {{name: web-{index}, port: 80}}
"""


def routes_text(count: int) -> str:
    return "---\n".join(
        ROUTE_TEMPLATE.format(index=index, team=index % 20, second=index % 60)
        for index in range(count)
    )


def best_of(repeat: int, action: Callable[[], object]) -> float:
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        timings.append(time.perf_counter() - started)
    return min(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--routes", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    text = routes_text(args.routes)
    loaded = load_text(text, "bench.yaml")
    if loaded.problems or len(loaded.objects) != args.routes:
        raise SystemExit(f"benchmark input did not load cleanly: {loaded.problems[:3]}")

    load_seconds = best_of(args.repeat, lambda: load_text(text, "bench.yaml"))
    set_seconds = best_of(args.repeat, loaded.resource_set)
    megabytes = len(text.encode()) / 1e6
    print(f"{args.routes} HTTPRoutes, {megabytes:.1f} MB of YAML, best of {args.repeat}:")
    rate = args.routes / load_seconds
    print(f"  load_text:           {load_seconds:6.2f} s  ({rate:,.0f} routes/s)")
    print(f"  ResourceSet build:   {set_seconds:6.3f} s")


if __name__ == "__main__":
    main()
