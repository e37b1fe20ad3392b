"""Translation benchmark: full translation plus xDS serialization of N HTTPRoutes.

Each size runs in a fresh subprocess so peak RSS belongs to that size alone. Routes are
realistic: three matches (path, header, query), header modifier filters, two weighted
backends each, spread over 10 hostnames and 200 Services.

    .venv/bin/python tools/bench_translate.py [--sizes 1000 5000 10000] [--json]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SERVICES = 200


def objects(routes: int) -> list[dict[str, object]]:
    docs: list[dict[str, object]] = [
        {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "GatewayClass",
            "metadata": {"name": "agw"},
            "spec": {"controllerName": "agentgateway.dev/agentgateway"},
        },
        {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "Gateway",
            "metadata": {"name": "gw", "namespace": "default"},
            "spec": {
                "gatewayClassName": "agw",
                "listeners": [
                    {
                        "name": "http",
                        "port": 80,
                        "protocol": "HTTP",
                        "allowedRoutes": {"namespaces": {"from": "All"}},
                    }
                ],
            },
        },
    ]
    for s in range(SERVICES):
        docs.append(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": f"svc-{s}", "namespace": "default"},
                "spec": {"ports": [{"name": "http", "port": 8080, "targetPort": 8080}]},
            }
        )
        docs.append(
            {
                "apiVersion": "discovery.k8s.io/v1",
                "kind": "EndpointSlice",
                "metadata": {
                    "name": f"svc-{s}-x",
                    "namespace": "default",
                    "labels": {"kubernetes.io/service-name": f"svc-{s}"},
                },
                "addressType": "IPv4",
                "ports": [{"name": "http", "port": 8080}],
                "endpoints": [{"addresses": [f"10.{s // 250}.{s % 250}.{i}"]} for i in range(1, 4)],
            }
        )
    for r in range(routes):
        docs.append(
            {
                "apiVersion": "gateway.networking.k8s.io/v1",
                "kind": "HTTPRoute",
                "metadata": {"name": f"route-{r}", "namespace": "default"},
                "spec": {
                    "parentRefs": [{"name": "gw"}],
                    "hostnames": [f"host-{r % 10}.example.com"],
                    "rules": [
                        {
                            "matches": [
                                {"path": {"type": "PathPrefix", "value": f"/api/{r}"}},
                                {
                                    "path": {"type": "Exact", "value": f"/exact/{r}"},
                                    "headers": [{"name": "x-r", "value": str(r)}],
                                },
                                {
                                    "path": {"type": "PathPrefix", "value": f"/q/{r}"},
                                    "queryParams": [{"name": "v", "value": "1"}],
                                },
                            ],
                            "filters": [
                                {
                                    "type": "RequestHeaderModifier",
                                    "requestHeaderModifier": {
                                        "set": [{"name": "x-route", "value": str(r)}],
                                        "remove": ["x-drop"],
                                    },
                                }
                            ],
                            "backendRefs": [
                                {"name": f"svc-{r % SERVICES}", "port": 8080, "weight": 80},
                                {"name": f"svc-{(r + 1) % SERVICES}", "port": 8080, "weight": 20},
                            ],
                        }
                    ],
                },
            }
        )
    return docs


def measure(routes: int) -> dict[str, float]:
    sys.path.insert(0, str(ROOT))
    from translator.loader import parse_object
    from translator.options import TranslateOptions
    from translator.resources import ResourceSet
    from translator.translate import translate

    parsed = [parse_object(doc) for doc in objects(routes)]
    resources = ResourceSet.from_objects(o for o in parsed if o is not None)
    start = time.perf_counter()
    result = translate(resources, TranslateOptions())
    translated = time.perf_counter()
    size = 0
    for xds in result.xds.values():
        for named in xds.by_type_url().values():
            size += sum(len(message.SerializeToString()) for message in named.values())
    done = time.perf_counter()
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "routes": routes,
        "translate_s": translated - start,
        "serialize_s": done - translated,
        "total_s": done - start,
        "xds_bytes": size,
        "peak_rss_mib": peak_mib,
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000, 10000])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one)))
        return 0
    rows = []
    for size in args.sizes:
        out = subprocess.run(
            [sys.executable, __file__, "--one", str(size)],
            check=True,
            capture_output=True,
            text=True,
        )
        rows.append(json.loads(out.stdout))
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(
            f"{'routes':>7} {'translate s':>12} {'serialize s':>12} {'total s':>8}"
            f" {'xDS MiB':>8} {'peak RSS MiB':>13}"
        )
        for r in rows:
            print(
                f"{r['routes']:>7} {r['translate_s']:>12.3f} {r['serialize_s']:>12.3f}"
                f" {r['total_s']:>8.3f}"
                f" {r['xds_bytes'] / 2**20:>8.2f} {r['peak_rss_mib']:>13.1f}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
