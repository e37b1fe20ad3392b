"""The Helm chart deploy/helm/agw, rendered by real Helm (helm-python-sdk, offline) with the
default values and with values-custom.yaml.

Covers: every rendered object (and the bundled CRD) is valid against the Kubernetes schemas
of the oldest supported and the newest Kubernetes (kubernetes-validate, strict); renders
match the golden files in golden/ (``pytest --update-golden`` rewrites them); ``helm lint``
is clean; the provisioning ConfigMap is what controlplane.deployer reads; the RBAC rules grant
what the control plane reads, writes and provisions, and nothing beyond (no wildcards, write
verbs only where agw writes).

Leaves out: installing the chart into a cluster (no API server runs here).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import helm_python
import pytest
import yaml

from controlplane.deployer import settings_from_document
from controlplane.deployer.kubeapi import PROVISIONED
from tests.deploy.helm import CHART, NAMESPACE, render, values_file
from tests.deploy.schemas import validate
from translator.model import SERVED_KINDS
from translator.serialize import dump_yaml

GOLDEN = Path(__file__).parent / "golden"
VALUES = {"default": None, "custom": "values-custom.yaml"}
READ = {"get", "list", "watch"}
WRITE = {"create", "update", "patch", "delete"}


def render_case(case: str) -> list[dict[str, Any]]:
    name = VALUES[case]
    return render(values_file(name) if name else None)


def find(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    return next(
        obj
        for obj in objects
        if obj["kind"] == kind and (name is None or obj["metadata"]["name"] == name)
    )


@pytest.mark.parametrize("case", sorted(VALUES))
def test_render_matches_golden(request: pytest.FixtureRequest, case: str) -> None:
    actual = dump_yaml(render_case(case))
    expected = GOLDEN / f"{case}.yaml"
    if request.config.getoption("--update-golden"):
        if not expected.exists() or expected.read_text() != actual:
            expected.write_text(actual)
            pytest.fail(f"{expected.name} rewritten; re-run without --update-golden")
        return
    assert expected.exists(), f"{expected.name} is missing; run pytest --update-golden"
    assert actual == expected.read_text(), f"{expected.name} differs (pytest --update-golden)"


@pytest.mark.parametrize("case", sorted(VALUES))
def test_every_rendered_object_is_valid(case: str) -> None:
    objects = render_case(case)
    kinds = {obj["kind"] for obj in objects}
    assert {"Deployment", "ClusterRole", "Service", "CustomResourceDefinition"} <= kinds
    for manifest in objects:
        validate(manifest)


def test_non_default_values_take_effect() -> None:
    default, custom = render_case("default"), render_case("custom")
    assert find(default, "Deployment")["spec"]["replicas"] == 2
    assert any(obj["kind"] == "PodDisruptionBudget" for obj in default)
    assert any(obj["kind"] == "GatewayClass" for obj in default)
    deployment = find(custom, "Deployment")
    assert deployment["spec"]["replicas"] == 1
    pod = deployment["spec"]["template"]["spec"]
    assert pod["containers"][0]["image"] == "registry.example/platform/agw:1.2.3"
    assert pod["imagePullSecrets"] == [{"name": "registry-credentials"}]
    assert pod["nodeSelector"] == {"kubernetes.io/os": "linux"}
    assert not any(obj["kind"] in ("PodDisruptionBudget", "GatewayClass") for obj in custom)


@pytest.mark.parametrize("case", sorted(VALUES))
def test_the_provisioning_config_is_what_the_deployer_reads(case: str) -> None:
    objects = render_case(case)
    config = find(objects, "ConfigMap", "agw-provisioning")
    settings = settings_from_document(yaml.safe_load(config["data"]["provisioning.yaml"]))
    xds = find(objects, "Service", "agw-xds")
    port = xds["spec"]["ports"][0]["port"]
    assert settings.xds_address == f"agw-xds.{NAMESPACE}.svc:{port}"
    assert f"agw-xds.{NAMESPACE}.svc" in settings.xds_server_names
    args = find(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[args.index("--controller-name") + 1] == settings.controller_name
    if case == "custom":
        assert settings.proxy.image == "registry.example/platform/agw-proxy:1.2.3"
        assert (settings.proxy.replicas, settings.proxy.workers) == (3, 4)
        assert settings.proxy.service_type == "NodePort"
        assert settings.proxy.resources["requests"] == {"cpu": "1", "memory": "512Mi"}
    else:
        assert settings.proxy.image == "agw:0.1.0"


def _plural(kind: str) -> str:
    lower = kind.lower()
    if lower.endswith("ss"):
        return lower + "es"
    if lower.endswith("y") and lower[-2:-1] not in "aeiou":
        return lower[:-1] + "ies"
    return lower if lower.endswith("s") else lower + "s"


def _grants(objects: list[dict[str, Any]], kind: str) -> dict[tuple[str, str], set[str]]:
    """(apiGroup, resource) -> verbs granted by the chart's rules of this kind."""
    granted: dict[tuple[str, str], set[str]] = {}
    for role in (obj for obj in objects if obj["kind"] == kind):
        for rule in role["rules"]:
            for group in rule["apiGroups"]:
                for resource in rule["resources"]:
                    granted.setdefault((group, resource), set()).update(rule["verbs"])
    return granted


def test_rbac_grants_what_the_control_plane_needs_and_nothing_more() -> None:
    objects = render_case("default")
    cluster, namespaced = _grants(objects, "ClusterRole"), _grants(objects, "Role")
    assert all("*" not in key and "*" not in verbs for key, verbs in cluster.items())
    for (group, kind), (model, _) in SERVED_KINDS.items():
        resource = (group, _plural(kind))
        assert cluster.get(resource, set()) >= READ, f"{model.__name__} cannot be watched"
        if group.startswith("gateway.networking") and kind != "ReferenceGrant":
            status = (group, resource[1] + "/status")
            assert {"patch", "update"} <= cluster.get(status, set()), f"{kind} status"
    for provisioned in PROVISIONED:
        group = provisioned.api_version.rpartition("/")[0]
        assert cluster[(group, provisioned.plural)] >= READ | WRITE, provisioned.kind
    assert cluster[("authentication.k8s.io", "tokenreviews")] == {"create"}
    provisioned_keys = {(p.api_version.rpartition("/")[0], p.plural) for p in PROVISIONED}
    writable = {key for key, verbs in cluster.items() if verbs & WRITE}
    status_keys = {key for key in writable if key[1].endswith("/status")}
    assert writable - status_keys - provisioned_keys == {("authentication.k8s.io", "tokenreviews")}
    assert namespaced[("coordination.k8s.io", "leases")] >= {"get", "create", "update"}
    assert namespaced[("", "secrets")] == {"create"}


def test_helm_lint_is_clean() -> None:
    report = helm_python.lint(CHART, strict=True, namespace=NAMESPACE)
    problems = [m for m in report["messages"] if m["severity"] >= 2] + report["errors"]
    assert problems == []
