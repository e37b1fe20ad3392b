"""``agw run DIR``: embedded mode. The control plane on DIR and a proxy per Gateway."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any

from controlplane.app import ControlPlane, ControlPlaneConfig
from controlplane.embedded import EnvoyNotFound, ProxySettings, Supervisor
from controlplane.log import configure_logging
from translator.options import DataPlane
from translator.xds import type_urls

SUPERVISE_INTERVAL_SECONDS = 0.5


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "run",
        help="embedded mode: serve a directory of YAML with a proxy per Gateway on this machine",
    )
    parser.add_argument("config_dir", type=Path, metavar="DIR")
    parser.add_argument("--dataplane", choices=("python", "envoy"), default="python")
    parser.add_argument(
        "--workers", type=int, default=1, help="worker processes (Envoy: threads) per proxy"
    )
    parser.add_argument(
        "--address-pool", default="127.0.10.0/24", help="CIDR Gateways get addresses from"
    )
    parser.add_argument("--admin-address", default="127.0.0.1:15000")
    parser.add_argument("--xds-address", default="127.0.0.1:15010")
    parser.add_argument("--log-level", default="warning")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if not args.config_dir.is_dir():
        print(f"agw run: {args.config_dir}: not a directory", file=sys.stderr)
        return 2
    if args.workers < 1:
        print("agw run: --workers must be at least 1", file=sys.stderr)
        return 2
    configure_logging(args.log_level)
    try:
        return asyncio.run(_run(args))
    except EnvoyNotFound as error:
        print(f"agw run: {error}", file=sys.stderr)
        return 2


async def _run(args: argparse.Namespace) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    config = ControlPlaneConfig(
        config_dir=args.config_dir,
        xds_address=args.xds_address,
        admin_address=args.admin_address,
        address_pool=args.address_pool,
        data_plane=DataPlane.ENVOY if args.dataplane == "envoy" else DataPlane.AGW,
    )
    control_plane = ControlPlane(config)
    with tempfile.TemporaryDirectory(prefix="agw-run-") as workdir:
        supervisor = Supervisor(
            ProxySettings(args.dataplane, args.workers, args.xds_address, Path(workdir))
        )
        announced: dict[str, list[str]] = {}

        async def on_publish() -> None:
            await supervisor.reconcile(set(control_plane.cache.gateways()))
            _announce(control_plane, announced)

        control_plane.on_publish.append(on_publish)
        await control_plane.start()
        host, port = control_plane.admin_bound or ("?", 0)
        print(f"agw: admin http://{host}:{port}/debug  (statuses: /debug/resources)", flush=True)
        try:
            while not stop.is_set():
                await supervisor.check()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), SUPERVISE_INTERVAL_SECONDS)
        finally:
            await supervisor.stop_all()
            await control_plane.stop()
    print("agw: stopped", flush=True)
    return 0


def _announce(control_plane: ControlPlane, announced: dict[str, list[str]]) -> None:
    """Print where each gateway listens, whenever that changes."""
    current: dict[str, list[str]] = {}
    for gateway in control_plane.cache.gateways():
        snapshot = control_plane.cache.get(gateway)
        listeners = snapshot.resources.get(type_urls.LISTENER, {}) if snapshot else {}
        current[gateway] = sorted(
            f"{listener.address.socket_address.address}:{listener.address.socket_address.port_value}"
            for listener in listeners.values()
        )
    for gateway, addresses in sorted(current.items()):
        if announced.get(gateway) != addresses:
            print(
                f"agw: gateway {gateway} listening on {', '.join(addresses) or '(no listeners)'}",
                flush=True,
            )
    for gateway in sorted(set(announced) - set(current)):
        print(f"agw: gateway {gateway} removed", flush=True)
    announced.clear()
    announced.update(current)
