"""Fixtures: the emulated API server on loopback and kubernetes-asyncio clients for it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml
from kubernetes_asyncio.client import ApiClient, Configuration

from controlplane.sources.kube import KubeApi
from tests.kube.apiserver import ApiServer, running_apiserver

APISERVER_HOST = "127.0.20.1"
BOOKMARK_INTERVAL = 0.2


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
