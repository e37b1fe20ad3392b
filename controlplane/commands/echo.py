"""``agw echo``: the built-in echo backend for demos, end-to-end tests and benchmarks."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from controlplane.echo import EchoServer, ListenAddressInvalid, format_address

DEFAULT_LISTEN = "127.0.0.1:8080"


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "echo",
        help="run an HTTP/1.1, HTTP/2 and WebSocket backend that answers with what it received",
        description="Answer every request with JSON describing it. Query or header controls: "
        "x-echo-status, x-echo-delay-ms, x-echo-response-header (name=value, repeatable), "
        "x-echo-content-type.",
    )
    parser.add_argument(
        "--listen",
        action="append",
        metavar="ADDR:PORT",
        help=f"address to serve, repeatable (default {DEFAULT_LISTEN})",
    )
    parser.add_argument("--name", default="echo", help="reported as backend and x-echo-backend")
    parser.add_argument("--tls-cert", type=Path, help="PEM certificate chain: serve TLS")
    parser.add_argument("--tls-key", type=Path, help="PEM private key for --tls-cert")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if (args.tls_cert is None) != (args.tls_key is None):
        print("agw echo: --tls-cert and --tls-key go together", file=sys.stderr)
        return 2
    try:
        echo = EchoServer(
            args.listen or [DEFAULT_LISTEN],
            name=args.name,
            tls_cert=args.tls_cert,
            tls_key=args.tls_key,
        )
    except (ListenAddressInvalid, OSError) as error:
        print(f"agw echo: {error}", file=sys.stderr)
        return 2
    return _run_in_loop(lambda: serve_until_signalled(echo))


async def serve_until_signalled(echo: EchoServer) -> int:
    try:
        await echo.start()
    except OSError as error:
        print(f"agw echo: {error}", file=sys.stderr)
        return 1
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    # Scripts signal as soon as they read these lines, so the handlers are in place first.
    for host, port in echo.addresses:
        print(f"echo {echo.name} listening on {format_address(host, port)}", flush=True)
    try:
        await stop.wait()
    finally:
        await echo.stop()
    return 0


def _run_in_loop(main: Callable[[], Coroutine[Any, Any, int]]) -> int:
    loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None
    try:
        import uvloop

        loop_factory = uvloop.new_event_loop
    except ImportError:  # uvloop is not built for every platform
        pass
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        return runner.run(main())
