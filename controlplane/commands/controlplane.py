"""``agw controlplane``: translate a source of Gateway API objects and serve it over ADS."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path
from typing import Any

from controlplane.app import ControlPlane, ControlPlaneConfig
from controlplane.log import configure_logging
from translator.options import DEFAULT_CONTROLLER_NAME


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "controlplane",
        help="run the control plane: watch a source, serve xDS (ADS) and the admin endpoints",
    )
    parser.add_argument("--source", choices=("file",), default="file")
    parser.add_argument(
        "--config-dir", type=Path, required=True, help="directory of YAML (source file)"
    )
    parser.add_argument("--xds-address", default="127.0.0.1:15010")
    parser.add_argument("--admin-address", default="127.0.0.1:15000")
    parser.add_argument("--controller-name", default=DEFAULT_CONTROLLER_NAME)
    parser.add_argument(
        "--address-pool", default="127.0.10.0/24", help="CIDR Gateways get addresses from"
    )
    parser.add_argument("--log-level", default="info")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if not args.config_dir.is_dir():
        print(f"agw controlplane: {args.config_dir}: not a directory", file=sys.stderr)
        return 2
    configure_logging(args.log_level)
    config = ControlPlaneConfig(
        config_dir=args.config_dir,
        xds_address=args.xds_address,
        admin_address=args.admin_address,
        controller_name=args.controller_name,
        address_pool=args.address_pool or None,
    )
    return asyncio.run(serve_until_signalled(config))


async def serve_until_signalled(config: ControlPlaneConfig) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    control_plane = ControlPlane(config)
    await control_plane.start()
    try:
        await stop.wait()
    finally:
        await control_plane.stop()
    return 0
