"""A k3s cluster in Docker for the end-to-end test: whether one can run here at all (decided
in seconds), the agw image built from the Dockerfile and loaded into k3s's containerd, and
``kubectl`` run inside the k3s container (it ships one), so the host needs no Kubernetes
tools."""

from __future__ import annotations

import io
import tarfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import docker  # type: ignore[import-untyped]
import yaml

ROOT = Path(__file__).resolve().parents[2]
# The Gateway API release agw targets, experimental channel, as its release ships it; absent
# unless someone saves it there (no registry reachable here ships it).
UPSTREAM_CRDS = Path(__file__).parent / "crds" / "gateway-api-v1.6.1-experimental-install.yaml"
# agw-generated stand-ins (tools/gen_crds.py): upstream's names and versions, agw's schemas.
STAND_IN_CRDS = Path(__file__).parent / "crds" / "gateway-api.yaml"
DOCKER_TIMEOUT = 3


def docker_problem() -> str | None:
    """Why no container can run here, or None when a Docker engine answers a ping."""
    try:
        client = docker.from_env(timeout=DOCKER_TIMEOUT)
    except Exception as error:
        return f"no Docker engine reachable ({type(error).__name__}: {error})"
    try:
        client.ping()
    except Exception as error:
        return f"no Docker engine reachable ({type(error).__name__}: {error})"
    finally:
        client.close()
    return None


def gateway_api_crds() -> Path:
    """The upstream release's CRDs when vendored, else agw's generated stand-ins."""
    return UPSTREAM_CRDS if UPSTREAM_CRDS.exists() else STAND_IN_CRDS


def crds_problem() -> str | None:
    if gateway_api_crds().exists():
        return None
    return (
        f"no Gateway API CRDs: neither {UPSTREAM_CRDS.relative_to(ROOT)} nor "
        f"{STAND_IN_CRDS.relative_to(ROOT)} exists (python tools/gen_crds.py writes the latter)"
    )


def build_image(tag: str) -> None:
    client = docker.from_env()
    try:
        client.images.build(path=str(ROOT), tag=tag, rm=True)
    finally:
        client.close()


class Kubectl:
    """``kubectl`` inside the k3s container (``container`` is a started K3SContainer)."""

    def __init__(self, container: Any) -> None:
        self._container = container.get_wrapped_container()

    def run(self, *args: str) -> str:
        code, output = self._container.exec_run(["kubectl", *args])
        text = output.decode(errors="replace")
        if code != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({code}): {text}")
        return str(text)

    def put(self, name: str, data: bytes) -> str:
        """Copy ``data`` into the container as /tmp/``name``; returns that path."""
        archive = io.BytesIO()
        with tarfile.open(fileobj=archive, mode="w") as tar:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        self._container.put_archive("/tmp", archive.getvalue())
        return f"/tmp/{name}"

    def apply(self, name: str, documents: list[dict[str, Any]] | str) -> None:
        text = documents if isinstance(documents, str) else yaml.safe_dump_all(documents)
        self.run("apply", "--server-side", "--force-conflicts", "-f", self.put(name, text.encode()))

    def load_image(self, tag: str) -> None:
        """The image from the host's Docker into k3s's containerd (no registry involved)."""
        client = docker.from_env()
        try:
            data = b"".join(_chunks(client.images.get(tag).save(named=True)))
        finally:
            client.close()
        path = self.put("agw-image.tar", data)
        code, output = self._container.exec_run(["ctr", "-n", "k8s.io", "images", "import", path])
        if code != 0:
            raise AssertionError(f"importing {tag} into k3s failed: {output.decode()}")


def _chunks(stream: Any) -> Iterator[bytes]:
    yield from stream


def eventually(check: Callable[[], str | None], timeout: float, interval: float = 2.0) -> None:
    """Until ``check`` returns None (it returns what is still wrong), at most ``timeout``."""
    deadline = time.monotonic() + timeout
    problem = check()
    while problem is not None:
        if time.monotonic() > deadline:
            raise AssertionError(f"after {timeout:.0f}s: {problem}")
        time.sleep(interval)
        problem = check()
