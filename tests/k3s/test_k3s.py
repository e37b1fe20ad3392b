"""agw on a real Kubernetes: k3s in Docker (testcontainers), the image built from the
Dockerfile, the Gateway API CRDs, the Helm chart rendered by Helm's own library
(helm-python-sdk) and applied; then a Gateway, an HTTPRoute and an echo backend, and a
request through the proxy agw provisions, from a pod in the cluster.

The CRDs are upstream's v1.6.1 experimental-install.yaml when it is saved under
tests/k3s/crds/; otherwise tests/k3s/crds/gateway-api.yaml, agw-generated stand-ins
(tools/gen_crds.py: upstream's names, scopes, subresources and versions, schemas from agw's
models), which prove the deployment but not that agw accepts everything upstream's schemas do.

Skips, with the reason, where no Docker engine answers (decided within seconds, before any
image is built) or where neither CRD file exists.
Leaves out: everything the emulated API server already covers (tests/kube), conformance,
and LoadBalancer addresses (the proxy Service is ClusterIP here).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from itertools import count

import pytest

from controlplane.deployer import provisioned_name
from tests.deploy import helm
from tests.k3s.cluster import (
    Kubectl,
    build_image,
    crds_problem,
    docker_problem,
    eventually,
    gateway_api_crds,
)

K3S_IMAGE = "rancher/k3s:v1.33.4-k3s1"
IMAGE_REPOSITORY, IMAGE_TAG = "agw", "k3s-test"
IMAGE = f"{IMAGE_REPOSITORY}:{IMAGE_TAG}"
GATEWAY = "gw"
PORT = 8080


@pytest.fixture(scope="module")
def kubectl() -> Iterator[Kubectl]:
    problem = docker_problem() or crds_problem()
    if problem is not None:
        pytest.skip(f"k3s end-to-end test skipped: {problem}")
    from testcontainers.community.k3s import K3SContainer  # needs Docker: imported late

    build_image(IMAGE)
    with K3SContainer(K3S_IMAGE) as k3s:
        client = Kubectl(k3s)
        client.load_image(IMAGE)
        yield client


def chart_values() -> dict[str, object]:
    return {
        "image": {"repository": IMAGE_REPOSITORY, "tag": IMAGE_TAG, "pullPolicy": "Never"},
        "controlPlane": {"replicas": 1},
        "proxy": {"serviceType": "ClusterIP"},
    }


def echo_backend() -> list[dict[str, object]]:
    labels = {"app": "echo"}
    container = {
        "name": "echo",
        "image": IMAGE,
        "imagePullPolicy": "Never",
        "args": ["echo", "--listen", "0.0.0.0:9000"],
        "ports": [{"containerPort": 9000}],
    }
    return [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "echo", "namespace": "default"},
            "spec": {
                "selector": {"matchLabels": labels},
                "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}},
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "echo", "namespace": "default"},
            "spec": {"selector": labels, "ports": [{"port": 80, "targetPort": 9000}]},
        },
    ]


def gateway_and_route() -> list[dict[str, object]]:
    group = "gateway.networking.k8s.io/v1"
    return [
        {
            "apiVersion": group,
            "kind": "Gateway",
            "metadata": {"name": GATEWAY, "namespace": "default"},
            "spec": {
                "gatewayClassName": "agw",
                "listeners": [{"name": "http", "port": PORT, "protocol": "HTTP"}],
            },
        },
        {
            "apiVersion": group,
            "kind": "HTTPRoute",
            "metadata": {"name": "echo", "namespace": "default"},
            "spec": {
                "parentRefs": [{"name": GATEWAY}],
                "rules": [{"backendRefs": [{"name": "echo", "port": 80}]}],
            },
        },
    ]


PROBE = (
    "import json, urllib.request; "
    "r = urllib.request.urlopen('http://{host}:{port}/hello?k3s=1', timeout=5); "
    "print(json.dumps({{'status': r.status, 'body': r.read().decode()}}))"
)


@pytest.mark.timeout(900)
def test_a_request_reaches_the_backend_through_a_provisioned_proxy(kubectl: Kubectl) -> None:
    kubectl.apply("gateway-api-crds.yaml", gateway_api_crds().read_text())
    kubectl.run("wait", "--for=condition=Established", "crd", "--all", "--timeout=120s")
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": helm.NAMESPACE}}
    kubectl.apply("chart.yaml", [namespace, *helm.render(chart_values())])
    kubectl.run(
        "-n", helm.NAMESPACE, "rollout", "status", "deployment", "--timeout=300s", "--watch"
    )
    kubectl.apply("echo.yaml", echo_backend())
    kubectl.apply("gateway.yaml", gateway_and_route())
    kubectl.run("wait", "--for=condition=Programmed", f"gateway/{GATEWAY}", "--timeout=300s")
    kubectl.run("rollout", "status", f"deployment/{provisioned_name(GATEWAY)}", "--timeout=300s")

    host = f"{provisioned_name(GATEWAY)}.default.svc.cluster.local"
    names = count()
    answers: list[dict[str, object]] = []

    def probe() -> str | None:
        pod = f"probe-{next(names)}"
        kubectl.run(
            "run", pod, f"--image={IMAGE}", "--image-pull-policy=Never", "--restart=Never",
            "--command", "--", "python", "-c", PROBE.format(host=host, port=PORT),
        )  # fmt: skip
        try:
            kubectl.run(
                "wait", "--for=jsonpath={.status.phase}=Succeeded", f"pod/{pod}", "--timeout=60s"
            )
        except AssertionError as error:
            return f"probe pod {pod} did not succeed: {error}"
        answers.append(json.loads(kubectl.run("logs", pod).strip().splitlines()[-1]))
        return None

    eventually(probe, timeout=240)
    answer = answers[-1]
    assert answer["status"] == 200
    echoed = json.loads(str(answer["body"]))
    assert "/hello?k3s=1" in json.dumps(echoed)
