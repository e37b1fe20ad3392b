"""The ``agw`` command: one entry point, one subcommand per job.

Only the chosen subcommand's module is imported: ``agw proxy`` runs in every proxy pod, and
importing the control plane beside it (Kubernetes client, translator, pydantic) cost it
80 MiB of resident memory for nothing. Without a known subcommand (``agw --help``, a typo)
every module is imported, so the help and the error list them all."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Subcommand -> the module that adds its subparser (``add_parser``) and sets ``handler``.
SUBCOMMANDS = {
    name: f"controlplane.commands.{name}"
    for name in ("bootstrap", "controlplane", "echo", "proxy", "run", "translate")
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser of every subcommand, or of ``only`` alone."""
    parser = argparse.ArgumentParser(prog="agw", description="agw: a Gateway API implementation")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name, module in SUBCOMMANDS.items():
        if only is None or name == only:
            importlib.import_module(module).add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    chosen = arguments[0] if arguments and arguments[0] in SUBCOMMANDS else None
    args = build_parser(chosen).parse_args(arguments)
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
