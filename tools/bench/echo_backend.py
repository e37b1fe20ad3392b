"""`agw echo`, started without the rest of the `agw` command line.

    python -m tools.bench.echo_backend --listen 127.0.73.1:9100 --name a

`python -m controlplane.cli` imports every subcommand (gRPC, the translator, the proxy):
seconds of CPU per backend on a busy two-core machine, for a server that needs none of it."""

from __future__ import annotations

import argparse
import sys

from controlplane.commands import echo


def main() -> int:
    parser = argparse.ArgumentParser(prog="agw")
    echo.add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["echo", *sys.argv[1:]])
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
