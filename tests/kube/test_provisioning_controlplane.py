"""``agw controlplane --source kubernetes --provisioning FILE`` against the emulated API
server: the whole control plane (source, pipeline, status writer, Lease, provisioner, ADS
server) with a provisioning file, as the Helm chart runs it.

Covers: a Gateway of an agw GatewayClass gets its ServiceAccount, Service and Deployment; its
status.addresses are its Service's (none, and AddressNotAssigned, until the load balancer
assigns one; then that address, written by the status writer); a Gateway that moves to
another controller's class loses its objects (deleted by the provisioner) and a deleted
Gateway leaves none behind; an object deleted behind agw's back comes back on the periodic
resync; a translation that changes no wanted object (a backend) starts no pass, while a new
listener port does; a pass the API server fails is reported and retried well before the
resync; a replica that does not hold the Lease provisions nothing, and provisions as soon as
it takes the Lease over; with a CA Secret named, xDS is TLS (verified with the CA the
provisioned ConfigMap carries) and a stream presenting the Gateway's own ServiceAccount token
(issued by the emulator) gets that Gateway's clusters, while another Gateway's token gets
PERMISSION_DENIED; a refused CA Secret ends the command naming it; ``--provisioning`` needs
the Kubernetes source and a readable file.

Leaves out: what the rendered objects contain (test_deployer_render goldens), update and
conflict handling (test_deployer_reconcile), token caching and the other refusals
(test_xds_auth), and running the provisioned proxies (no pods run in the emulator).
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml
from envoy.config.cluster.v3.cluster_pb2 import Cluster
from envoy.config.core.v3.base_pb2 import Node
from envoy.service.discovery.v3.ads_pb2_grpc import AggregatedDiscoveryServiceStub
from envoy.service.discovery.v3.discovery_pb2 import DiscoveryRequest
from google.protobuf.struct_pb2 import Struct, Value
from kubernetes_asyncio.client import ApiClient
from kubernetes_asyncio.client.exceptions import ApiException

from controlplane.app import ControlPlane, ControlPlaneConfig
from controlplane.cli import main
from controlplane.commands.controlplane import serve_until_signalled
from controlplane.deployer import load_settings, provisioned_name
from tests.envoy_harness import free_port, wait_for
from tests.kube import kubectl
from tests.kube.apiserver import ApiServer
from tests.kube.conftest import running
from tests.kube.test_leader import lease_config
from tests.kube.test_source import FAST
from translator import naming
from translator.xds import type_urls

HOST = "127.0.20.80"
NAMESPACE = "agw-system"
AUDIENCE = "agw-xds"
CA_SECRET = "agw-xds-ca"
NAME = provisioned_name("gw")
LB_ADDRESS = "198.51.100.7"
TIMEOUT = 10.0
PROVISIONED = ("serviceaccounts", "services", "deployments.apps", "configmaps")


def manifest(kind: str, name: str = NAME, namespace: str = "default") -> kubectl.Manifest:
    api_version = "apps/v1" if kind == "Deployment" else "v1"
    return {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {"name": name, "namespace": namespace},
    }


async def exists(client: ApiClient, kind: str, name: str = NAME) -> bool:
    try:
        await kubectl.read(client, manifest(kind, name))
    except ApiException as error:
        if error.status == 404:
            return False
        raise
    return True


async def all_exist(client: ApiClient, *kinds: str) -> bool:
    return all([await exists(client, kind) for kind in kinds])


async def none_exist(client: ApiClient, *kinds: str) -> bool:
    return not any([await exists(client, kind) for kind in kinds])


def writes(apiserver: ApiServer, verb: str) -> int:
    return sum(len(apiserver.requests_with(verb, resource)) for resource in PROVISIONED)


async def gateway_status(client: ApiClient) -> dict[str, Any]:
    return (await kubectl.read(client, kubectl.gateway())).get("status") or {}


def programmed(status: dict[str, Any]) -> tuple[str, str]:
    conditions: list[dict[str, Any]] = status.get("conditions") or []
    found = next((c for c in conditions if c["type"] == "Programmed"), {})
    return str(found.get("status", "")), str(found.get("reason", ""))


def provisioning_file(tmp_path: Path, secure: bool) -> Path:
    """Settings as the Helm chart renders them, with the xDS address on a free loopback port
    (the control plane listens where the file says proxies reach it)."""
    document: dict[str, Any] = {
        "controllerName": kubectl.CONTROLLER,
        "xdsAddress": f"{HOST}:{free_port(HOST)}",
        "xdsServerNames": [HOST],
        "tokenAudience": AUDIENCE,
        "proxy": {"image": "agw:test", "replicas": 1},
    }
    if secure:
        document["xdsCASecret"] = CA_SECRET
    path = tmp_path / "provisioning.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def config(
    kubeconfig: Path,
    identity: str,
    provisioning: Path | None,
    resync: float = 30.0,
) -> ControlPlaneConfig:
    xds_address = f"{HOST}:{free_port(HOST)}"
    settings = None
    if provisioning is not None:
        settings = load_settings(provisioning)
        xds_address = settings.xds_address
    return ControlPlaneConfig(
        source="kubernetes",
        kubeconfig=kubeconfig,
        xds_address=xds_address,
        admin_address=f"{HOST}:0",
        address_pool=None,
        kubernetes=FAST,
        lease=lease_config(identity),
        provisioning=settings,
        namespace=NAMESPACE,
        provisioning_resync=resync,
    )


async def test_a_gateway_gets_proxies_and_publishes_its_service_address(
    apiserver: ApiServer, kubeconfig: Path, client: ApiClient, tmp_path: Path
) -> None:
    await kubectl.create(client, *kubectl.working_setup())
    plain = provisioning_file(tmp_path, secure=False)
    async with running(config(kubeconfig, "a", plain)):
        await wait_for(
            lambda: all_exist(client, "ServiceAccount", "Service", "Deployment"), timeout=TIMEOUT
        )
        deployment = await kubectl.read(client, manifest("Deployment"))
        args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
        assert args[args.index("--xds-address") + 1] == load_settings(plain).xds_address
        assert "--xds-token-file" not in args
        assert not await exists(client, "ConfigMap")

        # A LoadBalancer Service without an address yet: the Gateway is not Programmed.
        async def waiting_for_address() -> bool:
            status = await gateway_status(client)
            return programmed(status) == ("False", "AddressNotAssigned")

        await wait_for(waiting_for_address, timeout=TIMEOUT)
        assert not (await gateway_status(client)).get("addresses")

        ingress = {"loadBalancer": {"ingress": [{"ip": LB_ADDRESS}]}}
        await kubectl.patch(client, manifest("Service"), {"status": ingress}, "status")

        async def published() -> bool:
            status = await gateway_status(client)
            addresses = status.get("addresses")
            return addresses == [{"type": "IPAddress", "value": LB_ADDRESS}] and (
                programmed(status)[0] == "True"
            )

        await wait_for(published, timeout=TIMEOUT)

        # Moved to another controller's class: agw no longer wants its objects.
        await kubectl.create(client, kubectl.gateway_class("other", "example.com/other"))
        await kubectl.patch(client, kubectl.gateway(), {"spec": {"gatewayClassName": "other"}})
        await wait_for(
            lambda: none_exist(client, "ServiceAccount", "Service", "Deployment"), timeout=TIMEOUT
        )
        assert writes(apiserver, "delete") == 3

        await kubectl.patch(client, kubectl.gateway(), {"spec": {"gatewayClassName": "agw"}})
        await wait_for(
            lambda: all_exist(client, "ServiceAccount", "Service", "Deployment"), timeout=TIMEOUT
        )
        await kubectl.delete(client, kubectl.gateway())
        await wait_for(
            lambda: none_exist(client, "ServiceAccount", "Service", "Deployment"), timeout=TIMEOUT
        )


async def test_what_drifts_is_put_back_on_the_periodic_resync(
    apiserver: ApiServer, kubeconfig: Path, client: ApiClient, tmp_path: Path
) -> None:
    await kubectl.create(client, *kubectl.working_setup())
    plain = provisioning_file(tmp_path, secure=False)
    async with running(config(kubeconfig, "a", plain, resync=0.2)) as control_plane:
        await wait_for(lambda: exists(client, "Deployment"), timeout=TIMEOUT)
        translations = control_plane.pipeline.metrics.translations
        # Deployments are not watched: only the resync notices this one is gone.
        await kubectl.delete(client, manifest("Deployment"))
        await wait_for(lambda: exists(client, "Deployment"), timeout=TIMEOUT)
        assert control_plane.pipeline.metrics.translations == translations


async def test_only_a_change_to_the_wanted_objects_starts_a_pass(
    apiserver: ApiServer, kubeconfig: Path, client: ApiClient, tmp_path: Path
) -> None:
    await kubectl.create(client, *kubectl.working_setup())
    plain = provisioning_file(tmp_path, secure=False)
    async with running(config(kubeconfig, "a", plain, resync=60)) as control_plane:
        loop = control_plane.provisioning
        assert loop is not None
        await wait_for(lambda: exists(client, "Deployment"), timeout=TIMEOUT)
        passes, lists = loop.passes, len(apiserver.requests_with("list", "deployments.apps"))
        translations = control_plane.pipeline.metrics.translations
        # A backend change is translated, but wants no other proxy objects.
        await kubectl.patch(client, kubectl.service()[0], {"metadata": {"labels": {"a": "b"}}})
        await wait_for(
            lambda: control_plane.pipeline.metrics.translations > translations, timeout=TIMEOUT
        )
        assert loop.passes == passes
        assert len(apiserver.requests_with("list", "deployments.apps")) == lists

        # A new listener port changes the Service the Gateway wants.
        listeners = [{"name": "http", "port": 8080, "protocol": "HTTP"}]
        listeners.append({"name": "alt", "port": 9090, "protocol": "HTTP"})
        await kubectl.patch(client, kubectl.gateway(), {"spec": {"listeners": listeners}})

        async def service_ports() -> set[int]:
            service = await kubectl.read(client, manifest("Service"))
            return {port["port"] for port in service["spec"]["ports"]}

        await wait_for(lambda: _equal(service_ports(), {8080, 9090}), timeout=TIMEOUT)
        assert loop.passes == passes + 1


async def _equal(value: Awaitable[object], expected: object) -> bool:
    return await value == expected


async def test_a_failed_pass_is_reported_and_retried_before_the_resync(
    apiserver: ApiServer, kubeconfig: Path, client: ApiClient, tmp_path: Path
) -> None:
    await kubectl.create(client, *kubectl.working_setup())
    apiserver.refuse(503, "list", "serviceaccounts", times=1)
    plain = provisioning_file(tmp_path, secure=False)
    async with running(config(kubeconfig, "a", plain, resync=60)) as control_plane:
        loop = control_plane.provisioning
        assert loop is not None
        await wait_for(lambda: loop.failures == 1, timeout=TIMEOUT)
        assert any("provisioning failed" in problem for problem in loop.problems)
        await wait_for(
            lambda: all_exist(client, "ServiceAccount", "Service", "Deployment"), timeout=TIMEOUT
        )
        assert loop.failures == 0 and not loop.problems


async def test_only_the_lease_holder_provisions(
    apiserver: ApiServer, kubeconfig: Path, client: ApiClient, tmp_path: Path
) -> None:
    await kubectl.create(client, *kubectl.working_setup())
    created = writes(apiserver, "create")
    plain = provisioning_file(tmp_path, secure=False)
    first = ControlPlane(config(kubeconfig, "first", None))
    await first.start()
    try:
        await wait_for(first.leading.is_set, timeout=TIMEOUT)
        async with running(config(kubeconfig, "second", plain)) as second:
            loop = second.provisioning
            assert loop is not None

            def passed_as_follower() -> bool:
                return loop.last_report is not None and not loop.last_report.leader

            await wait_for(passed_as_follower, timeout=TIMEOUT)
            assert writes(apiserver, "create") == created
            assert not second.leading.is_set()

            await first.stop()
            await wait_for(
                lambda: all_exist(client, "ServiceAccount", "Service", "Deployment"),
                timeout=TIMEOUT,
            )
            assert second.leading.is_set()
    finally:
        await first.stop()


def node(gateway: str) -> Node:
    return Node(id="proxy-1", metadata=Struct(fields={"gateway": Value(string_value=gateway)}))


async def first_clusters(address: str, ca: str, token: str, gateway: str) -> set[str]:
    """The cluster names of the first CDS response on a TLS stream presenting ``token``
    (raises ``AioRpcError`` when the stream is refused)."""
    credentials = grpc.ssl_channel_credentials(root_certificates=ca.encode())
    async with grpc.aio.secure_channel(address, credentials) as channel:
        stub = AggregatedDiscoveryServiceStub(channel)
        call = stub.StreamAggregatedResources(metadata=[("authorization", f"Bearer {token}")])
        await call.write(DiscoveryRequest(node=node(gateway), type_url=type_urls.CLUSTER))
        async with asyncio.timeout(TIMEOUT):
            response = await call.read()
    assert response is not grpc.aio.EOF
    return {Cluster.FromString(resource.value).name for resource in response.resources}


async def test_secure_xds_serves_a_gateway_only_to_its_own_proxies(
    apiserver: ApiServer, kubeconfig: Path, client: ApiClient, tmp_path: Path
) -> None:
    await kubectl.create(client, *kubectl.working_setup(), kubectl.gateway("other", port=8081))
    secure = provisioning_file(tmp_path, secure=True)
    async with running(config(kubeconfig, "a", secure)) as control_plane:
        await wait_for(lambda: all_exist(client, "ConfigMap", "Deployment"), timeout=TIMEOUT)
        deployment = await kubectl.read(client, manifest("Deployment"))
        args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
        assert "--xds-token-file" in args and "--xds-ca-file" in args
        # Proxies trust what the provisioned ConfigMap says: the CA kept in the Secret.
        ca = (await kubectl.read(client, manifest("ConfigMap")))["data"]["ca.crt"]
        stored = await kubectl.read(client, manifest("Secret", CA_SECRET, NAMESPACE))
        assert base64.b64decode(stored["data"]["ca.crt"]).decode() == ca

        address = control_plane.config.xds_address
        echo = naming.service_cluster("default", "echo", 80)
        own = apiserver.issue_token("default", NAME, AUDIENCE)
        await wait_for(lambda: control_plane.cache.get("default/gw") is not None, timeout=TIMEOUT)
        assert echo in await first_clusters(address, ca, own, "default/gw")

        foreign = apiserver.issue_token("default", provisioned_name("other"), AUDIENCE)
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await first_clusters(address, ca, foreign, "default/gw")
        assert refused.value.code() is grpc.StatusCode.PERMISSION_DENIED


async def test_a_refused_ca_secret_ends_the_command_with_its_name(
    apiserver: ApiServer, kubeconfig: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    apiserver.refuse(403, "create", "secrets")
    secure = provisioning_file(tmp_path, secure=True)
    assert await serve_until_signalled(config(kubeconfig, "a", secure)) == 1
    error = capsys.readouterr().err
    assert f"may not get or create secrets (the xDS CA {NAMESPACE}/{CA_SECRET})" in error


def test_provisioning_needs_the_kubernetes_source(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plain = provisioning_file(tmp_path, secure=False)
    command = ["controlplane", "--config-dir", str(tmp_path), "--provisioning", str(plain)]
    assert main(command) == 2
    assert "--provisioning needs --source kubernetes" in capsys.readouterr().err


@pytest.mark.parametrize(
    "content", [pytest.param("proxy: {}\n", id="no-xds-address"), pytest.param("[", id="not-yaml")]
)
def test_an_unusable_provisioning_file_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str
) -> None:
    path = tmp_path / "provisioning.yaml"
    path.write_text(content)
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("{}")
    command = ["controlplane", "--source", "kubernetes", "--kubeconfig", str(kubeconfig)]
    assert main([*command, "--provisioning", str(path)]) == 2
    assert str(path) in capsys.readouterr().err
