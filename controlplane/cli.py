"""The ``agw`` command: one entry point, one subcommand per job."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from controlplane.commands import bootstrap, controlplane, echo, proxy, run, translate

# Each module adds its own subparser and sets ``handler``.
SUBCOMMANDS = (bootstrap, controlplane, echo, proxy, run, translate)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="agw", description="agw: a Gateway API implementation")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for module in SUBCOMMANDS:
        module.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
