"""``agw proxy``: run the agw data plane for one gateway, fed over ADS by the control plane."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from dataplane.main import DEFAULT_ADMIN_ADDRESS, DEFAULT_DRAIN_SECONDS, ProxyOptions
from dataplane.main import run as run_proxy
from dataplane.xdsclient.errors import InvalidAddress


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "proxy", help="run the agw proxy (a worker pool) for one gateway, configured over ADS"
    )
    parser.add_argument("--xds-address", required=True, metavar="HOST:PORT")
    parser.add_argument("--gateway", required=True, metavar="NAMESPACE/NAME")
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="worker processes (default: CPU count); 0 runs the proxy in this process",
    )
    parser.add_argument("--admin-address", default=DEFAULT_ADMIN_ADDRESS, metavar="HOST:PORT")
    parser.add_argument(
        "--admin-address-path",
        type=Path,
        metavar="FILE",
        help="write the admin server's bound HOST:PORT here (useful with port 0)",
    )
    flavour = parser.add_mutually_exclusive_group()
    flavour.add_argument(
        "--delta", dest="delta", action="store_true", default=True, help="delta ADS (default)"
    )
    flavour.add_argument(
        "--sotw", dest="delta", action="store_false", help="state-of-the-world ADS"
    )
    parser.add_argument(
        "--xds-ca-file",
        type=Path,
        metavar="FILE",
        help="connect over TLS, trusting this CA bundle (re-read on every reconnect)",
    )
    parser.add_argument(
        "--xds-token-file",
        type=Path,
        metavar="FILE",
        help="send this token (a projected ServiceAccount token) as a bearer token; needs TLS",
    )
    parser.add_argument("--node-id", default=None, help="default: agw-proxy/GATEWAY/HOST/PID")
    parser.add_argument(
        "--drain-seconds",
        type=float,
        default=DEFAULT_DRAIN_SECONDS,
        help="on SIGTERM, how long in-flight requests get to finish",
    )
    parser.add_argument("--log-level", default="info")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    namespace, _, name = args.gateway.partition("/")
    if not namespace or not name:
        print("agw proxy: --gateway must be NAMESPACE/NAME", file=sys.stderr)
        return 2
    if args.workers < 0:
        print("agw proxy: --workers must be 0 or more", file=sys.stderr)
        return 2
    if args.xds_token_file is not None and args.xds_ca_file is None:
        print("agw proxy: --xds-token-file needs --xds-ca-file (TLS)", file=sys.stderr)
        return 2
    options = ProxyOptions(
        xds_address=args.xds_address,
        gateway=args.gateway,
        workers=args.workers,
        admin_address=args.admin_address,
        delta=args.delta,
        node_id=args.node_id,
        log_level=args.log_level,
        admin_address_path=args.admin_address_path,
        drain_seconds=args.drain_seconds,
        xds_ca_file=args.xds_ca_file,
        xds_token_file=args.xds_token_file,
    )
    try:
        return run_proxy(options)
    except InvalidAddress as error:
        print(f"agw proxy: {error}", file=sys.stderr)
        return 2
