"""tests/k3s/crds/gateway-api.yaml: the agw-generated stand-ins for the Gateway API CRDs that
the k3s test installs when upstream's experimental-install.yaml is not vendored.

Covers: the file is what tools/gen_crds.py generates (``--check``); every CRD is a valid
CustomResourceDefinition for the oldest and newest Kubernetes agw supports
(kubernetes-validate, strict) and its schema is structural; names, scope, status subresource
and versions follow upstream (one storage version, each served version one agw reads); every
Gateway API object in the translator's golden inputs that agw's model accepts is accepted by
its CRD's schema too (the stand-ins never reject what agw serves), and the schema rejects a
few plain mistakes.

Leaves out: installing them into a real API server (tests/k3s/test_k3s.py does, where Docker
runs) and any comparison with upstream's schemas, which are not available here.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
import yaml
from pydantic import ValidationError

from tests.deploy.schemas import validate
from tests.deploy.test_crds import FORBIDDEN, nodes
from tests.k3s.cluster import STAND_IN_CRDS
from translator.loader import parse_object
from translator.model import SERVED_KINDS

ROOT = Path(__file__).resolve().parents[2]
GOLDEN_INPUTS = ROOT / "tests" / "translator" / "testdata" / "gatewayapi"
UPSTREAM_NAMES = {
    "gatewayclasses.gateway.networking.k8s.io": ("Cluster", "v1", True),
    "gateways.gateway.networking.k8s.io": ("Namespaced", "v1", True),
    "httproutes.gateway.networking.k8s.io": ("Namespaced", "v1", True),
    "grpcroutes.gateway.networking.k8s.io": ("Namespaced", "v1", True),
    "tlsroutes.gateway.networking.k8s.io": ("Namespaced", "v1", True),
    "tcproutes.gateway.networking.k8s.io": ("Namespaced", "v1", True),
    "udproutes.gateway.networking.k8s.io": ("Namespaced", "v1alpha2", True),
    "referencegrants.gateway.networking.k8s.io": ("Namespaced", "v1beta1", False),
    "backendtlspolicies.gateway.networking.k8s.io": ("Namespaced", "v1", True),
    "listenersets.gateway.networking.k8s.io": ("Namespaced", "v1", True),
    "xlistenersets.gateway.networking.x-k8s.io": ("Namespaced", "v1alpha1", True),
    "xbackendtrafficpolicies.gateway.networking.x-k8s.io": ("Namespaced", "v1alpha1", True),
}


def crds() -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(STAND_IN_CRDS.read_text()) if doc]


def schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """apiVersion and kind -> the openAPIV3Schema that version serves."""
    found = {}
    for crd in crds():
        spec = crd["spec"]
        for version in spec["versions"]:
            api_version = f"{spec['group']}/{version['name']}"
            found[(api_version, spec["names"]["kind"])] = version["schema"]["openAPIV3Schema"]
    return found


def without_nulls(node: Any) -> Any:
    """What the API server stores: null fields pruned, as agw's loader treats them."""
    if isinstance(node, dict):
        return {key: without_nulls(value) for key, value in node.items() if value is not None}
    if isinstance(node, list):
        return [without_nulls(item) for item in node]
    return node


def golden_objects() -> Iterator[dict[str, Any]]:
    """Gateway API documents of the golden inputs that agw's model accepts."""
    for path in sorted(GOLDEN_INPUTS.glob("*.in.yaml")):
        for doc in yaml.load_all(path.read_text(), Loader=yaml.CSafeLoader):
            if not isinstance(doc, dict) or "gateway.networking" not in str(doc.get("apiVersion")):
                continue
            try:
                parsed = parse_object(doc)
            except ValidationError:
                continue
            if parsed is not None:
                yield without_nulls(doc)


def test_the_stand_ins_are_current() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "gen_crds.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_every_crd_is_valid_for_kubernetes() -> None:
    for crd in crds():
        validate(crd)


def test_every_schema_is_structural() -> None:
    for crd in crds():
        for version in crd["spec"]["versions"]:
            for path, node in nodes(version["schema"]["openAPIV3Schema"]):
                where = f"{crd['metadata']['name']} {version['name']}{path}"
                assert not FORBIDDEN & set(node), f"{where}: {FORBIDDEN & set(node)}"
                assert not {"oneOf", "anyOf", "const", "discriminator"} & set(node), where
                assert "type" in node, f"{where} has no type"
                assert not ("properties" in node and "additionalProperties" in node), where


def test_names_scopes_and_versions_follow_upstream() -> None:
    found = {}
    for crd in crds():
        spec = crd["spec"]
        names = spec["names"]
        assert crd["metadata"]["name"] == f"{names['plural']}.{spec['group']}"
        assert names["listKind"] == f"{names['kind']}List"
        (storage,) = [version["name"] for version in spec["versions"] if version["storage"]]
        has_status = spec["versions"][0].get("subresources") == {"status": {}}
        found[crd["metadata"]["name"]] = (spec["scope"], storage, has_status)
        served = {version["name"] for version in spec["versions"] if version["served"]}
        model_versions = SERVED_KINDS[(spec["group"], names["kind"])][1]
        assert served <= model_versions, crd["metadata"]["name"]
    assert found == UPSTREAM_NAMES


def test_the_schemas_accept_every_object_agw_accepts() -> None:
    # One validator per schema: jsonschema.validate would re-check the schema every call.
    validators = {key: jsonschema.Draft7Validator(schema) for key, schema in schemas().items()}
    checked = 0
    for obj in golden_objects():
        validator = validators.get((obj["apiVersion"], obj["kind"]))
        if validator is None:
            continue  # a version or alias upstream no longer serves
        validator.validate(obj)
        checked += 1
    assert checked > 100, f"only {checked} golden objects checked"


MISTAKES = {
    "listener port out of range": ("Gateway", {"port": 70000}),
    "unknown protocol shape": ("Gateway", {"protocol": ""}),
    "unknown filter type": ("HTTPRoute", {"filters": [{"type": "Teleport"}]}),
}


@pytest.mark.parametrize("mistake", MISTAKES.values(), ids=MISTAKES.keys())
def test_the_schemas_reject_plain_mistakes(mistake: tuple[str, dict[str, Any]]) -> None:
    kind, change = mistake
    by_version = schemas()
    if kind == "Gateway":
        listener = {"name": "http", "port": 80, "protocol": "HTTP", **change}
        spec: dict[str, Any] = {"gatewayClassName": "agw", "listeners": [listener]}
    else:
        spec = {"parentRefs": [{"name": "gw"}], "rules": [change]}
    obj = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": kind,
        "metadata": {"name": "x", "namespace": "default"},
        "spec": spec,
    }
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(obj, by_version[("gateway.networking.k8s.io/v1", kind)])
    with pytest.raises(ValidationError):
        parse_object(obj)
