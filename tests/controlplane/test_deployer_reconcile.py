"""The provisioner against an emulated API server (tests.kube, on kmock) through
kubernetes-asyncio: a Gateway's ServiceAccount, Service and Deployment are created, updated
in place (keeping what the cluster assigned: cluster IP, node ports, an autoscaler's replica
count, others' annotations), left alone when nothing changed or when its parameters do not
resolve, and deleted when no Gateway wants them; only the leader writes; a name clash with an
object agw does not manage is reported, not overwritten; the Service's load-balancer address
becomes the Gateway's status address.

Leaves out: what the objects contain (test_deployer_render.py goldens) and real controllers
(no pods run, no load balancer assigns addresses: the test writes the Service status itself).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
import yaml
from kubernetes_asyncio.client import ApiClient, Configuration

from controlplane.deployer import (
    Provisioner,
    ProvisionSettings,
    gateway_addresses,
    provisioned_name,
)
from controlplane.deployer.kubeapi import PROVISIONED, KubeObjects
from tests.kube.apiserver import ApiServer, running_apiserver
from translator.gatewayapi.status import ObjectId
from translator.loader import parse_object
from translator.options import TranslateOptions
from translator.resources import ResourceSet
from translator.translate import translate

SETTINGS = ProvisionSettings(xds_address="agw-xds.agw-system.svc:15010")
NAME = provisioned_name("web")
GATEWAY_PATH = "/apis/gateway.networking.k8s.io/v1/namespaces/apps/gateways/web"
CLASS = """
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: agw}
spec: {controllerName: agentgateway.dev/agentgateway}
"""
GATEWAY = """
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: web, namespace: apps}
spec:
  gatewayClassName: agw
  listeners: [{name: http, port: 80, protocol: HTTP}]
"""
PARAMETERS = """
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayParameters
metadata: {name: scaled, namespace: apps}
spec:
  autoscaling: {minReplicas: 2, maxReplicas: 9}
"""


@dataclass
class Cluster:
    api: ApiServer
    objects: KubeObjects
    client: ApiClient
    leader: bool = True

    async def call(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        answer = await self.client.call_api(
            path,
            method,
            header_params={"Content-Type": "application/json", "Accept": "application/json"},
            body=body,
            response_types_map={200: "object", 201: "object"},
            _return_http_data_only=True,
        )
        assert isinstance(answer, dict)
        return answer

    async def post(self, text: str, path: str) -> dict[str, Any]:
        return await self.call("POST", path, yaml.safe_load(text))

    async def put_gateway(self, text: str) -> None:
        """Replace the Gateway apps/web with ``text`` (the server keeps its uid)."""
        await self.call("PUT", GATEWAY_PATH, yaml.safe_load(text))

    async def get(self, kind: str, name: str = NAME) -> dict[str, Any] | None:
        resource = next(item for item in PROVISIONED if item.kind == kind)
        for item in await self.objects.list_matching(resource, "app.kubernetes.io/managed-by=agw"):
            if item["metadata"]["name"] == name:
                return item
        return None

    async def resources(self) -> ResourceSet:
        """What a Kubernetes source would publish: every object, read back from the server."""
        objects = []
        paths = (
            "/apis/gateway.networking.k8s.io/v1/gatewayclasses",
            "/apis/gateway.networking.k8s.io/v1/gateways",
            "/apis/agentgateway.dev/v1alpha1/agentgatewayparameters",
            "/api/v1/services",
        )
        for path in paths:
            listed = await self.call("GET", path)
            kind = str(listed["kind"]).removesuffix("List")
            for item in listed["items"]:
                parsed = parse_object({"apiVersion": listed["apiVersion"], "kind": kind, **item})
                if parsed is not None:
                    objects.append(parsed)
        return ResourceSet.from_objects(objects)


@pytest.fixture
async def cluster() -> AsyncIterator[Cluster]:
    async with (
        running_apiserver(host="127.0.20.61") as api,
        ApiClient(Configuration(host=str(api.url).rstrip("/"))) as client,
    ):
        found = Cluster(api, KubeObjects(client), client)
        await found.post(CLASS, "/apis/gateway.networking.k8s.io/v1/gatewayclasses")
        await found.post(GATEWAY, "/apis/gateway.networking.k8s.io/v1/namespaces/apps/gateways")
        yield found


def provisioner(cluster: Cluster) -> Provisioner:
    return Provisioner(cluster.client, SETTINGS, is_leader=lambda: cluster.leader)


def writes(api: ApiServer) -> int:
    return sum(
        len(api.requests_with(verb, resource))
        for verb in ("create", "update", "patch", "delete")
        for resource in ("serviceaccounts", "services", "deployments.apps", "configmaps")
    )


async def test_creates_the_objects_of_a_gateway_owned_by_it(cluster: Cluster) -> None:
    report = await provisioner(cluster).reconcile(await cluster.resources())
    assert sorted(report.created) == [
        f"Deployment apps/{NAME}",
        f"Service apps/{NAME}",
        f"ServiceAccount apps/{NAME}",
    ]
    assert report.problems == []
    gateway = await cluster.call("GET", GATEWAY_PATH)
    for kind in ("ServiceAccount", "Service", "Deployment"):
        created = await cluster.get(kind)
        assert created is not None
        (owner,) = created["metadata"]["ownerReferences"]
        assert (owner["kind"], owner["uid"]) == ("Gateway", gateway["metadata"]["uid"])


async def test_a_second_pass_without_changes_writes_nothing(cluster: Cluster) -> None:
    deployer = provisioner(cluster)
    await deployer.reconcile(await cluster.resources())
    before = writes(cluster.api)
    report = await deployer.reconcile(await cluster.resources())
    assert (report.created, report.updated, report.deleted) == ([], [], [])
    assert writes(cluster.api) == before


async def test_a_changed_gateway_updates_in_place_keeping_cluster_assignments(
    cluster: Cluster,
) -> None:
    deployer = provisioner(cluster)
    await deployer.reconcile(await cluster.resources())
    service = await cluster.get("Service")
    assert service is not None
    # What a cluster would assign, and an annotation another tool adds.
    service["spec"]["clusterIP"] = "10.96.0.10"
    service["spec"]["ports"][0]["nodePort"] = 31080
    service["metadata"]["annotations"]["example.com/by-someone-else"] = "keep"
    await cluster.objects.replace(service)
    uid = service["metadata"]["uid"]

    changed = GATEWAY.replace(
        "listeners: [{name: http, port: 80, protocol: HTTP}]",
        "listeners: [{name: http, port: 80, protocol: HTTP}, {name: alt, port: 8080, "
        "protocol: HTTP}]",
    )
    await cluster.put_gateway(changed)
    report = await deployer.reconcile(await cluster.resources())
    assert sorted(report.updated) == [f"Deployment apps/{NAME}", f"Service apps/{NAME}"]
    updated = await cluster.get("Service")
    assert updated is not None and updated["metadata"]["uid"] == uid
    assert [port["port"] for port in updated["spec"]["ports"]] == [80, 8080]
    assert updated["spec"]["clusterIP"] == "10.96.0.10"
    assert updated["spec"]["ports"][0]["nodePort"] == 31080
    assert updated["metadata"]["annotations"]["example.com/by-someone-else"] == "keep"


async def test_removed_infrastructure_annotations_go_and_others_stay(cluster: Cluster) -> None:
    deployer = provisioner(cluster)
    annotated = GATEWAY.replace(
        "  gatewayClassName: agw",
        "  gatewayClassName: agw\n  infrastructure: {annotations: {example.com/team: web}}",
    )
    await cluster.put_gateway(annotated)
    await deployer.reconcile(await cluster.resources())
    account = await cluster.get("ServiceAccount")
    assert account is not None
    assert account["metadata"]["annotations"]["example.com/team"] == "web"
    account["metadata"]["annotations"]["example.com/other"] = "keep"
    await cluster.objects.replace(account)

    await cluster.put_gateway(GATEWAY)
    report = await deployer.reconcile(await cluster.resources())
    assert f"ServiceAccount apps/{NAME}" in report.updated
    account = await cluster.get("ServiceAccount")
    assert account is not None
    annotations = account["metadata"]["annotations"]
    assert "example.com/team" not in annotations and annotations["example.com/other"] == "keep"


async def test_autoscaling_adds_an_autoscaler_and_keeps_its_replica_count(
    cluster: Cluster,
) -> None:
    deployer = provisioner(cluster)
    await cluster.post(
        PARAMETERS, "/apis/agentgateway.dev/v1alpha1/namespaces/apps/agentgatewayparameters"
    )
    scaled = GATEWAY.replace(
        "  gatewayClassName: agw",
        "  gatewayClassName: agw\n  infrastructure:\n    parametersRef: "
        "{group: agentgateway.dev, kind: AgentgatewayParameters, name: scaled}",
    )
    await cluster.put_gateway(scaled)
    report = await deployer.reconcile(await cluster.resources())
    assert f"HorizontalPodAutoscaler apps/{NAME}" in report.created
    deployment = await cluster.get("Deployment")
    assert deployment is not None and "replicas" not in deployment["spec"]
    deployment["spec"]["replicas"] = 7  # the autoscaler's choice
    await cluster.objects.replace(deployment)

    report = await deployer.reconcile(await cluster.resources())
    assert report.updated == []
    deployment = await cluster.get("Deployment")
    assert deployment is not None and deployment["spec"]["replicas"] == 7

    await cluster.put_gateway(GATEWAY)  # autoscaling off again
    report = await deployer.reconcile(await cluster.resources())
    assert report.deleted == [f"HorizontalPodAutoscaler apps/{NAME}"]
    deployment = await cluster.get("Deployment")
    assert deployment is not None and deployment["spec"]["replicas"] == 1


async def test_objects_no_gateway_wants_are_deleted_but_broken_parameters_keep_them(
    cluster: Cluster,
) -> None:
    deployer = provisioner(cluster)
    await deployer.reconcile(await cluster.resources())
    broken = GATEWAY.replace(
        "  gatewayClassName: agw",
        "  gatewayClassName: agw\n  infrastructure:\n    parametersRef: "
        "{group: agentgateway.dev, kind: AgentgatewayParameters, name: missing}",
    )
    await cluster.put_gateway(broken)
    report = await deployer.reconcile(await cluster.resources())
    assert (report.created, report.updated, report.deleted) == ([], [], [])

    other_class = GATEWAY.replace("gatewayClassName: agw", "gatewayClassName: someone-elses")
    await cluster.put_gateway(other_class)
    report = await deployer.reconcile(await cluster.resources())
    assert sorted(report.deleted) == [
        f"Deployment apps/{NAME}",
        f"Service apps/{NAME}",
        f"ServiceAccount apps/{NAME}",
    ]
    assert await cluster.get("Deployment") is None


async def test_only_the_leader_writes(cluster: Cluster) -> None:
    cluster.leader = False
    deployer = provisioner(cluster)
    report = await deployer.reconcile(await cluster.resources())
    assert not report.leader and writes(cluster.api) == 0
    cluster.leader = True
    report = await deployer.reconcile(await cluster.resources())
    assert len(report.created) == 3


async def test_an_object_agw_does_not_manage_is_never_overwritten(cluster: Cluster) -> None:
    squatter = f"""
apiVersion: v1
kind: Service
metadata: {{name: {NAME}, namespace: apps}}
spec: {{ports: [{{port: 1234}}]}}
"""
    await cluster.post(squatter, "/api/v1/namespaces/apps/services")
    report = await provisioner(cluster).reconcile(await cluster.resources())
    assert report.problems == [
        f"create Service apps/{NAME}: it exists but agw does not manage it; rename or delete it"
    ]
    service = await cluster.call("GET", f"/api/v1/namespaces/apps/services/{NAME}")
    assert service["spec"]["ports"] == [{"port": 1234}]


async def test_the_load_balancer_address_becomes_the_gateway_address(cluster: Cluster) -> None:
    deployer = provisioner(cluster)
    await deployer.reconcile(await cluster.resources())
    assert deployer.addresses == {}  # a LoadBalancer without an address yet
    status = {"status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.10"}]}}}
    await cluster.call("PUT", f"/api/v1/namespaces/apps/services/{NAME}/status", status)
    resources = await cluster.resources()
    await deployer.reconcile(resources)
    assert deployer.addresses == {"apps/web": (("IPAddress", "192.0.2.10"),)}
    published = gateway_addresses(resources, SETTINGS)
    assert published == deployer.addresses

    result = translate(resources, TranslateOptions(published_addresses=published))
    gateway_status = result.statuses[
        ObjectId("gateway.networking.k8s.io", "Gateway", "apps", "web")
    ]
    assert gateway_status["addresses"] == [{"type": "IPAddress", "value": "192.0.2.10"}]
