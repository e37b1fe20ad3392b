"""``agw controlplane``: translate a source of Gateway API objects and serve it over ADS.

``--source file --config-dir DIR`` reads a directory of YAML; ``--source kubernetes`` watches
a cluster (the pod's in-cluster configuration, or ``--kubeconfig PATH`` for development),
writes statuses back and elects a status writer among replicas with a Lease.

``--provisioning FILE`` (Kubernetes only; the Helm chart mounts it) turns on proxy
provisioning: the Lease holder creates each Gateway's ServiceAccount, Deployment and Service,
Gateways publish their Service's addresses, and, when the file names a CA Secret, xDS is
served over TLS to proxies that present their Gateway's ServiceAccount token."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Any

import yaml

from controlplane.app import ControlPlane, ControlPlaneConfig
from controlplane.deployer import ProvisionSettings, load_settings
from controlplane.leader import LeaseConfig, default_identity
from controlplane.log import configure_logging
from controlplane.sources.kube import KubeApiError, KubeConfigError
from translator.options import DEFAULT_CONTROLLER_NAME, DataPlane

FILE_ADDRESS_POOL = "127.0.10.0/24"


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "controlplane",
        help="run the control plane: watch a source, serve xDS (ADS) and the admin endpoints",
    )
    parser.add_argument("--source", choices=("file", "kubernetes"), default="file")
    parser.add_argument("--config-dir", type=Path, help="directory of YAML (source file)")
    parser.add_argument(
        "--kubeconfig",
        type=Path,
        help="kubeconfig (source kubernetes); without it, the in-cluster configuration",
    )
    parser.add_argument("--xds-address", default="127.0.0.1:15010")
    parser.add_argument("--admin-address", default="127.0.0.1:15000")
    parser.add_argument(
        "--controller-name",
        help="the GatewayClass controllerName to act for (default: the provisioning file's, "
        f"else {DEFAULT_CONTROLLER_NAME})",
    )
    parser.add_argument(
        "--data-plane",
        choices=[plane.value for plane in DataPlane],
        default=DataPlane.AGW.value,
        help="what serves the Gateways: agw's proxy (default) or Envoy; for Envoy only what "
        "Envoy enforces is emitted, and statuses say what it cannot",
    )
    parser.add_argument(
        "--provisioning",
        type=Path,
        metavar="FILE",
        help="source kubernetes: provision Gateway proxies with these settings (YAML; see "
        "controlplane/deployer/settings.py), and secure xDS when they name a CA Secret",
    )
    parser.add_argument(
        "--address-pool",
        help=f"CIDR Gateways get addresses from (default: {FILE_ADDRESS_POOL} for the file "
        "source, none for kubernetes)",
    )
    parser.add_argument(
        "--lease-namespace",
        default=os.environ.get("POD_NAMESPACE", "agw-system"),
        help="namespace of the leader-election Lease (default: $POD_NAMESPACE or agw-system)",
    )
    parser.add_argument("--lease-name", default="agw-controlplane")
    parser.add_argument(
        "--identity",
        default=os.environ.get("POD_NAME") or None,
        help="this replica's name in the Lease (default: $POD_NAME, else host name + random)",
    )
    parser.add_argument(
        "--no-leader-election",
        action="store_true",
        help="write statuses without electing a leader (a single replica only)",
    )
    parser.add_argument("--log-level", default="info")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if args.source == "file" and (args.config_dir is None or not args.config_dir.is_dir()):
        print(f"agw controlplane: {args.config_dir}: not a directory", file=sys.stderr)
        return 2
    if args.kubeconfig is not None and not args.kubeconfig.is_file():
        print(f"agw controlplane: {args.kubeconfig}: no such file", file=sys.stderr)
        return 2
    provisioning: ProvisionSettings | None = None
    if args.provisioning is not None:
        if args.source != "kubernetes":
            print("agw controlplane: --provisioning needs --source kubernetes", file=sys.stderr)
            return 2
        try:
            provisioning = load_settings(args.provisioning)
        except (OSError, ValueError, yaml.YAMLError) as error:
            print(f"agw controlplane: {args.provisioning}: {error}", file=sys.stderr)
            return 2
    configure_logging(args.log_level)
    return asyncio.run(serve_until_signalled(config_from(args, provisioning)))


def config_from(
    args: argparse.Namespace, provisioning: ProvisionSettings | None = None
) -> ControlPlaneConfig:
    pool = args.address_pool
    if pool is None and args.source == "file":
        pool = FILE_ADDRESS_POOL
    lease = LeaseConfig(
        namespace=args.lease_namespace,
        name=args.lease_name,
        identity=args.identity or default_identity(),
    )
    controller_name = args.controller_name or (
        provisioning.controller_name if provisioning else DEFAULT_CONTROLLER_NAME
    )
    return ControlPlaneConfig(
        config_dir=args.config_dir,
        xds_address=args.xds_address,
        admin_address=args.admin_address,
        controller_name=controller_name,
        data_plane=DataPlane(args.data_plane),
        address_pool=pool or None,
        source=args.source,
        kubeconfig=args.kubeconfig,
        lease=lease,
        leader_election=not args.no_leader_election,
        provisioning=provisioning,
        namespace=os.environ.get("POD_NAMESPACE") or args.lease_namespace,
    )


async def serve_until_signalled(config: ControlPlaneConfig) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    control_plane = ControlPlane(config)
    try:
        await control_plane.start()
    except (KubeApiError, KubeConfigError, ValueError) as error:
        print(f"agw controlplane: {error}", file=sys.stderr)
        return 1
    try:
        await stop.wait()
    finally:
        await control_plane.stop()
    return 0
