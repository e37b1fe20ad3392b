"""A gateway under test: `agw run DIR` (python or envoy data plane) plus `agw echo`
backends, each on its own loopback address, started and always torn down together.

Processes run in their own sessions so a benchmark can stop every one of them, proxies
included, even when `agw run` itself no longer answers SIGTERM."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import Any

from tools.bench import manifests, procfs
from tools.bench.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
AGW = [sys.executable, "-m", "controlplane.cli"]
ECHO = [sys.executable, "-m", "tools.bench.echo_backend"]
STOP_GRACE_SECONDS = 20.0


class GatewayNotReady(Exception):
    pass


@dataclass(frozen=True)
class Layout:
    """The loopback addresses one run owns: the gateway's pool (its address is the pool's
    first host) and one address per echo backend."""

    subnet: str  # "127.0.72": the gateway gets <subnet>.1 out of <subnet>.0/24
    backend_subnet: str  # backends get <backend_subnet>.1, .2, ...

    @property
    def gateway_ip(self) -> str:
        return f"{self.subnet}.1"

    @property
    def pool(self) -> str:
        return f"{self.subnet}.0/24"

    def backend_ip(self, index: int) -> str:
        return f"{self.backend_subnet}.{index + 1}"


@dataclass(frozen=True)
class Backend:
    name: str
    ip: str
    port: int


def exit_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit so `with RunningGateway(...)` still stops its processes."""

    def leave(signum: int, _: object) -> None:
        sys.exit(128 + signum)

    signal.signal(signal.SIGTERM, leave)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def backends_for(layout: Layout, names: list[str]) -> list[Backend]:
    found = []
    for index, name in enumerate(names):
        ip = layout.backend_ip(index)
        found.append(Backend(name, ip, free_port(ip)))
    return found


def status_of(ip: str, host: str, timeout: float = 1.0) -> int:
    """The status of GET / for ``host`` on a fresh connection; 0 when the connection failed."""
    connection = http.client.HTTPConnection(ip, manifests.LISTENER_PORT, timeout=timeout)
    try:
        connection.request("GET", "/", headers={"Host": host})
        response = connection.getresponse()
        response.read()
        return response.status
    except OSError:
        return 0
    finally:
        connection.close()


def _listening(ip: str, port: int) -> bool:
    try:
        with socket.create_connection((ip, port), timeout=0.2):
            return True
    except OSError:
        return False


def _stop(processes: list[subprocess.Popen[bytes]], leftovers: dict[int, int | None]) -> None:
    for process in processes:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for process in processes:
        try:
            process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    for pid, started in leftovers.items():
        # Proxies live in sessions of their own: one still alive after `agw run` is gone would
        # leak. The start time proves the pid was not recycled by an unrelated process.
        if started is not None and procfs.start_ticks(pid) == started:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)


@dataclass
class RunningGateway:
    config_dir: Path
    dataplane: str
    layout: Layout
    backends: list[Backend]
    log_dir: Path
    workers: int = 1
    started_at: float = 0.0
    admin: str = ""
    _agw: subprocess.Popen[bytes] | None = None
    _echoes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    _known_children: dict[int, int | None] = field(default_factory=dict)

    def __enter__(self) -> RunningGateway:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        for backend in self.backends:
            self._echoes.append(
                self._spawn(
                    f"echo-{backend.name}",
                    [*ECHO, "--listen", f"{backend.ip}:{backend.port}", "--name", backend.name],
                )
            )
        self.admin = f"127.0.0.1:{free_port()}"
        self.started_at = time.perf_counter()
        self._agw = self._spawn(
            f"agw-run-{self.dataplane}",
            [
                *AGW, "run", str(self.config_dir), "--dataplane", self.dataplane,
                "--workers", str(self.workers), "--address-pool", self.layout.pool,
                "--admin-address", self.admin, "--xds-address", f"127.0.0.1:{free_port()}",
            ],
        )  # fmt: skip
        # Backends start while `agw run` does: each costs seconds of imports on a busy machine.
        for backend in self.backends:
            if wait_until(partial(_listening, backend.ip, backend.port), 30, 0.02) is None:
                raise GatewayNotReady(f"echo backend {backend.name} never listened")

    def _spawn(self, label: str, arguments: list[str]) -> subprocess.Popen[bytes]:
        with open(self.log_dir / f"{label}.log", "ab") as log:
            return subprocess.Popen(
                arguments,
                cwd=ROOT,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def stop(self) -> None:
        processes = [p for p in [self._agw, *self._echoes] if p is not None]
        self.proxy_pids()
        _stop(processes, self._known_children)
        self._agw, self._echoes = None, []

    @property
    def control_plane_pid(self) -> int:
        assert self._agw is not None, "the gateway is not running"
        return self._agw.pid

    def proxy_pids(self) -> list[int]:
        """The proxy processes `agw run` started: `agw proxy` and its workers, or Envoy."""
        if self._agw is None:
            return []
        found = procfs.descendants(self._agw.pid)
        for pid in found:
            self._known_children.setdefault(pid, procfs.start_ticks(pid))
        return found

    def status(self, host: str) -> int:
        return status_of(self.layout.gateway_ip, host)

    def admin_json(self, path: str) -> Any:
        ip, port = self.admin.rsplit(":", 1)
        connection = http.client.HTTPConnection(ip, int(port), timeout=10)
        try:
            connection.request("GET", path)
            return json.loads(connection.getresponse().read())
        finally:
            connection.close()

    def is_programmed(self) -> bool:
        """The Gateway's status says Programmed=True (read from /debug/resources)."""
        try:
            body = self.admin_json("/debug/resources?kind=Gateway")
        except (OSError, ValueError):
            return False
        for gateway in body.get("objects", []):
            for condition in gateway.get("status", {}).get("conditions", []):
                if condition.get("type") == "Programmed":
                    return bool(condition.get("status") == "True")
        return False

    def wait_serving(self, host: str, timeout: float) -> float:
        """Seconds from `agw run`'s start until ``host`` is served with a 200."""
        if wait_until(lambda: self.status(host) == 200, timeout, 0.02) is None:
            raise GatewayNotReady(f"{host} not served within {timeout:.0f}s; logs: {self.log_dir}")
        return time.perf_counter() - self.started_at


def write_base(config_dir: Path, layout: Layout, backends: list[Backend]) -> None:
    documents = manifests.gateway_manifests(layout.gateway_ip)
    for backend in backends:
        documents += manifests.service_manifests(backend.name, backend.ip, backend.port)
    manifests.write_documents(config_dir / "base.yaml", documents)


@contextlib.contextmanager
def open_testbed(
    dataplane: str, layout: Layout, routes: int, label: str
) -> Iterator[RunningGateway]:
    """The setup every benchmark shares, started, in a fresh temporary directory: backends
    ``a`` and ``b``, the stable route (to ``a``) and ``routes`` bulk routes (to ``a``)."""
    with tempfile.TemporaryDirectory(prefix=f"agw-bench-{label}-") as directory:
        work = Path(directory)
        config = work / "config"
        config.mkdir()
        backends = backends_for(layout, ["a", "b"])
        write_base(config, layout, backends)
        stable = manifests.http_route("stable", manifests.STABLE_HOST, "a")
        manifests.write_documents(config / manifests.STABLE_FILE, [stable])
        if routes:
            manifests.write_documents(config / "routes.yaml", manifests.bulk_routes(routes, "a"))
        with RunningGateway(config, dataplane, layout, backends, work) as gateway:
            yield gateway
