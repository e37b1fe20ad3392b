"""Fixtures: the emulated API server on loopback, kubernetes-asyncio clients for it, and a
whole control plane driven through a kubeconfig with a bearer token."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml
from kubernetes_asyncio.client import ApiClient, Configuration

from controlplane.app import ControlPlane, ControlPlaneConfig
from controlplane.sources.kube import KubeApi
from tests.kube.apiserver import ApiServer, running_apiserver

APISERVER_HOST = "127.0.20.1"
BOOKMARK_INTERVAL = 0.2
# The token the control plane's kubeconfig carries and the emulator requires.
TOKEN = "agw-test-token"


@pytest.fixture
async def apiserver() -> AsyncIterator[ApiServer]:
    async with running_apiserver(APISERVER_HOST, bookmark_interval=BOOKMARK_INTERVAL) as api:
        yield api


def client_configuration(api: ApiServer, token: str = "") -> Configuration:
    configuration = Configuration()
    configuration.host = str(api.url).rstrip("/")
    if token:
        configuration.api_key = {"BearerToken": token}
        configuration.api_key_prefix = {"BearerToken": "Bearer"}
    return configuration


@pytest.fixture
async def kube_client(apiserver: ApiServer) -> AsyncIterator[ApiClient]:
    async with ApiClient(client_configuration(apiserver)) as client:
        yield client


@pytest.fixture
async def kube_api(apiserver: ApiServer) -> AsyncIterator[KubeApi]:
    api = KubeApi(ApiClient(client_configuration(apiserver)))
    try:
        yield api
    finally:
        await api.close()


def write_kubeconfig(path: Path, api: ApiServer, token: str) -> Path:
    """A kubeconfig for the emulator, as ``kubectl config`` would write one."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "kmock", "cluster": {"server": str(api.url).rstrip("/")}}],
        "users": [{"name": "agw", "user": {"token": token}}],
        "contexts": [{"name": "kmock", "context": {"cluster": "kmock", "user": "agw"}}],
        "current-context": "kmock",
    }
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture
def kubeconfig(apiserver: ApiServer, tmp_path: Path) -> Path:
    """A kubeconfig with ``TOKEN``, which the emulator now requires."""
    apiserver.require_token(TOKEN)
    return write_kubeconfig(tmp_path / "kubeconfig", apiserver, TOKEN)


@pytest.fixture
async def client(apiserver: ApiServer) -> AsyncIterator[ApiClient]:
    """A client with ``TOKEN``, for tests that set up or inspect the cluster."""
    async with ApiClient(client_configuration(apiserver, TOKEN)) as client:
        yield client


@contextlib.asynccontextmanager
async def running(config: ControlPlaneConfig) -> AsyncIterator[ControlPlane]:
    control_plane = ControlPlane(config)
    await control_plane.start()
    try:
        yield control_plane
    finally:
        await control_plane.stop()
