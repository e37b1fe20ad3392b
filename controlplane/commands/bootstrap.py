"""``agw bootstrap``: print an Envoy bootstrap that connects an unmodified Envoy to agw."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from controlplane.bootstrap import envoy_bootstrap


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "bootstrap",
        help="print an Envoy bootstrap (JSON) for one gateway; run it with envoy -c FILE",
    )
    parser.add_argument("--gateway", required=True, metavar="NAMESPACE/NAME")
    parser.add_argument("--xds-address", default="127.0.0.1:15010", metavar="HOST:PORT")
    parser.add_argument("--admin-address", default="127.0.0.1:0", metavar="HOST:PORT")
    parser.add_argument(
        "--node-id", default=None, help="distinct per Envoy when a gateway has several"
    )
    parser.add_argument(
        "--delta", action="store_true", help="incremental (delta) ADS instead of SotW"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    namespace, _, name = args.gateway.partition("/")
    if not namespace or not name:
        print("agw bootstrap: --gateway must be NAMESPACE/NAME", file=sys.stderr)
        return 2
    bootstrap = envoy_bootstrap(
        args.gateway,
        args.xds_address,
        delta=args.delta,
        admin_address=args.admin_address,
        node_id=args.node_id,
    )
    json.dump(bootstrap, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0
