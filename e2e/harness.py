"""End-to-end harness: `agw run` as a real process on a temporary directory, echo backends on
distinct loopback addresses, and helpers to apply YAML, wait for statuses and send requests.

Everything stays on loopback: gateways get addresses from 127.0.60.0/24, backends listen on
127.0.61.x. Waiting is always polling with a deadline."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx

from controlplane.echo import EchoServer, serve_echo

ROOT = Path(__file__).resolve().parent.parent
GATEWAY_POOL = "127.0.60.0/24"
DEFAULT_TIMEOUT = 20.0
T = TypeVar("T")


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def eventually(
    probe: Callable[[], T | None], *, timeout: float = DEFAULT_TIMEOUT, what: str = "condition"
) -> T:
    """Poll ``probe`` until it returns something truthy; return it, or fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = probe()
        except (OSError, ValueError, KeyError, AssertionError, httpx.HTTPError) as error:
            last = error
        else:
            if last:
                return last
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout}s; last: {last!r}")
        time.sleep(0.05)


class EchoThread:
    """`agw echo` servers in a background thread, so synchronous tests can read counters."""

    def __init__(self, listen: list[str], name: str) -> None:
        self._listen = listen
        self._name = name
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.server: EchoServer | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"echo-{name}", daemon=True)

    def __enter__(self) -> EchoThread:
        self._thread.start()
        if not self._ready.wait(10) or self.error is not None:
            raise RuntimeError(f"echo servers did not start: {self.error!r}")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def requests(self, address: str) -> int:
        assert self.server is not None
        host, _, port = address.rpartition(":")
        return self.server.requests.get((host, int(port)), 0)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except OSError as error:  # e.g. an address in use: say so instead of timing out
            self.error = error
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with serve_echo(self._listen, name=self._name) as server:
            self.server = server
            self._ready.set()
            await self._stop.wait()


@dataclass
class Gateway:
    """A running `agw run` on ``config_dir``."""

    dataplane: str
    config_dir: Path
    admin: str
    process: subprocess.Popen[bytes]
    log: Path

    # --- configuration ----------------------------------------------------------------------

    def apply(self, name: str, text: str) -> None:
        """Write ``name``.yaml atomically (the source never sees half a file)."""
        path = self.config_dir / f"{name}.yaml"
        tmp = self.config_dir / f".{name}.yaml.tmp"
        tmp.write_text(text)
        tmp.replace(path)

    def delete(self, name: str) -> None:
        (self.config_dir / f"{name}.yaml").unlink(missing_ok=True)

    # --- admin ------------------------------------------------------------------------------

    def admin_get(self, path: str) -> Any:
        with urllib.request.urlopen(f"http://{self.admin}{path}", timeout=5) as response:
            return json.loads(response.read())

    def objects(self, kind: str) -> list[dict[str, Any]]:
        return list(self.admin_get(f"/debug/resources?kind={kind}")["objects"])

    def object(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        for obj in self.objects(kind):
            meta = obj["metadata"]
            if meta["name"] == name and meta.get("namespace", "") == namespace:
                return obj
        return None

    def problems(self) -> list[str]:
        return list(self.admin_get("/debug/resources")["problems"])

    def address_of(self, namespace: str, name: str) -> str:
        def probe() -> str | None:
            gateway = self.object("Gateway", namespace, name)
            addresses = (gateway or {}).get("status", {}).get("addresses") or []
            return addresses[0]["value"] if addresses else None

        return eventually(probe, what=f"address of Gateway {namespace}/{name}")

    def wait_condition(
        self,
        kind: str,
        namespace: str,
        name: str,
        type_: str,
        status: str = "True",
        reason: str | None = None,
    ) -> dict[str, Any]:
        """Wait until some condition list of the object (top level, a listener's or a
        parent's) has ``type_`` with ``status`` (and ``reason``) at the current generation."""

        def probe() -> dict[str, Any] | None:
            obj = self.object(kind, namespace, name)
            if obj is None:
                return None
            generation = obj["metadata"].get("generation", 1)
            for condition in _all_conditions(obj.get("status", {})):
                if (
                    condition["type"] == type_
                    and condition["status"] == status
                    and (reason is None or condition["reason"] == reason)
                    and condition.get("observedGeneration") == generation
                ):
                    return obj
            return None

        return eventually(probe, what=f"{kind} {namespace}/{name} {type_}={status} {reason or ''}")


def _all_conditions(status: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield from status.get("conditions", [])
    for group in ("listeners", "parents"):
        for item in status.get(group, []):
            yield from item.get("conditions", [])


@contextlib.contextmanager
def run_gateway(dataplane: str, workdir: Path) -> Iterator[Gateway]:
    config_dir = workdir / "config"
    config_dir.mkdir(parents=True, exist_ok=True)
    admin = f"127.0.0.1:{free_port()}"
    log = workdir / f"agw-run-{dataplane}.log"
    command = [
        sys.executable, "-m", "controlplane.cli", "run", str(config_dir),
        "--dataplane", dataplane, "--address-pool", GATEWAY_POOL,
        "--admin-address", admin, "--xds-address", f"127.0.0.1:{free_port()}",
        "--log-level", "info",
    ]  # fmt: skip
    with open(log, "wb") as output:
        process = subprocess.Popen(
            command, cwd=ROOT, stdout=output, stderr=output, stdin=subprocess.DEVNULL,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
    gateway = Gateway(dataplane, config_dir, admin, process, log)
    try:
        eventually(lambda: _ready(admin) or process.poll() is not None, what="agw run ready")
        if process.poll() is not None:
            raise RuntimeError(f"agw run exited: {log.read_text()[-2000:]}")
        yield gateway
    finally:
        children = _children(process.pid)
        process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
            raise AssertionError("agw run did not stop within 20 s of SIGTERM") from None
        # A clean stop: exit status 0 and every proxy it started gone with it.
        assert code == 0, f"agw run exited {code}: {log.read_text()[-2000:]}"
        left = [pid for pid in children if Path(f"/proc/{pid}").exists() and not _is_zombie(pid)]
        assert not left, f"agw run left proxies running: {left}"


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"
    except OSError:
        return True


def _ready(admin: str) -> bool:
    try:
        with urllib.request.urlopen(f"http://{admin}/readyz", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False
