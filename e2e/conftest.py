"""End-to-end fixtures: one `agw run` per data plane for the session, echo backends, and a
shared Gateway. Each scenario writes its own files (unique hostnames and names) and removes
them afterwards, so scenarios do not see each other."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from e2e import manifests as m
from e2e.harness import EchoThread, Gateway, eventually, run_gateway

DATAPLANES = ("envoy", "python")
NAMESPACE = "e2e"
SHARED_GATEWAY = "shared"
HTTP_PORT = 8080
# Backends: echo-N answers on 127.0.61.N:9000.
BACKENDS = {f"echo-{n}": f"127.0.61.{n}:9000" for n in range(1, 7)}


@pytest.fixture(scope="session")
def echo() -> Iterator[EchoThread]:
    with EchoThread(list(BACKENDS.values()), name="e2e") as servers:
        yield servers


@pytest.fixture(scope="session", params=DATAPLANES)
def gateway(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, echo: EchoThread
) -> Iterator[Gateway]:
    dataplane = request.param
    with run_gateway(dataplane, tmp_path_factory.mktemp(f"agw-{dataplane}")) as gw:
        docs: list[dict[str, Any]] = [
            m.gateway_class(),
            m.namespace(NAMESPACE),
            m.gateway(SHARED_GATEWAY, NAMESPACE, [m.http_listener("http", HTTP_PORT)]),
        ]
        for name, address in BACKENDS.items():
            docs.extend(m.service(name, NAMESPACE, [address]))
        gw.apply("base", m.dump(*docs))
        gw.wait_condition("Gateway", NAMESPACE, SHARED_GATEWAY, "Programmed")
        yield gw


@dataclass
class Scenario:
    """One test's view: apply files that are removed afterwards, and send requests to the
    shared Gateway (or another one)."""

    gw: Gateway
    echo: EchoThread
    files: list[str] = field(default_factory=list)
    addresses: dict[str, str] = field(default_factory=dict)
    client: httpx.Client = field(
        default_factory=lambda: httpx.Client(timeout=10, follow_redirects=False)
    )

    def apply(self, name: str, *docs: dict[str, Any]) -> None:
        if name not in self.files:
            self.files.append(name)
        self.gw.apply(name, m.dump(*docs))

    def delete(self, name: str) -> None:
        self.gw.delete(name)

    def base_url(
        self, gateway: str = SHARED_GATEWAY, port: int = HTTP_PORT, scheme: str = "http"
    ) -> str:
        if gateway not in self.addresses:
            self.addresses[gateway] = self.gw.address_of(NAMESPACE, gateway)
        return f"{scheme}://{self.addresses[gateway]}:{port}"

    def get(
        self,
        host: str,
        path: str = "/",
        *,
        gateway: str = SHARED_GATEWAY,
        port: int = HTTP_PORT,
        **kwargs: Any,
    ) -> httpx.Response:
        return self.request("GET", host, path, gateway=gateway, port=port, **kwargs)

    def request(
        self,
        method: str,
        host: str,
        path: str = "/",
        *,
        gateway: str = SHARED_GATEWAY,
        port: int = HTTP_PORT,
        **kwargs: Any,
    ) -> httpx.Response:
        headers = {"host": host, **kwargs.pop("headers", {})}
        return self.client.request(
            method, self.base_url(gateway, port) + path, headers=headers, **kwargs
        )

    def eventually_status(self, host: str, path: str, status: int, **kwargs: Any) -> httpx.Response:
        """Wait until the gateway answers ``status`` (config propagates asynchronously)."""
        return eventually(
            lambda: (r := self.get(host, path, **kwargs)).status_code == status and r,
            what=f"{host}{path} answering {status}",
        )


@pytest.fixture
def scenario(gateway: Gateway, echo: EchoThread) -> Iterator[Scenario]:
    current = Scenario(gateway, echo)
    yield current
    current.client.close()
    for name in current.files:
        gateway.delete(name)
