"""Golden tests of the objects agw provisions for Gateways (controlplane.deployer, pure half).

Each case under testdata/deployer is Kubernetes YAML plus a ``ProvisionSettings`` document
(the control plane's provisioning file, read by ``settings_from_document``); the output
lists every object ``desired_state`` renders and the Gateways left untouched. The case is
translated first, as the control plane does, so that the ports of accepted ListenerSet
listeners come from the translator's statuses (``listener_set_ports``). Every rendered
object is also validated against the Kubernetes schemas, and names and label values are
checked for length and syntax. Leaves applying the objects to a cluster to
test_deployer_reconcile.py.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from controlplane.deployer import (
    ProvisionSettings,
    desired_state,
    listener_set_ports,
    names,
    settings_from_document,
)
from tests.deploy.schemas import validate
from tests.translator.golden import case_id, check_golden
from translator.loader import load_text
from translator.options import TranslateOptions
from translator.serialize import dump_yaml
from translator.translate import translate

TESTDATA = Path(__file__).parent / "testdata" / "deployer"
CASES = sorted(TESTDATA.glob("*.in.yaml"))
DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def settings_from(documents: list[Any]) -> ProvisionSettings:
    for doc in documents:
        if isinstance(doc, dict) and doc.get("kind") == "ProvisionSettings":
            return settings_from_document(doc)
    raise AssertionError("a deployer case declares its ProvisionSettings")


def render_case(path: Path) -> tuple[str, list[dict[str, Any]]]:
    text = path.read_text()
    loaded = load_text(text, path.name)
    assert loaded.problems == (), loaded.problems
    resources = loaded.resource_set()
    settings = settings_from(list(yaml.safe_load_all(text)))
    statuses = translate(resources, TranslateOptions(settings.controller_name)).statuses
    desired = desired_state(resources, settings, listener_set_ports(resources, statuses))
    objects = list(desired.objects.values())
    output = {"objects": objects, "untouched": sorted(desired.untouched)}
    return dump_yaml(output), objects


@pytest.mark.parametrize("path", CASES, ids=case_id)
def test_golden(request: pytest.FixtureRequest, path: Path) -> None:
    actual, _ = render_case(path)
    check_golden(request, path, actual)


@pytest.mark.parametrize("path", CASES, ids=case_id)
def test_rendered_objects_are_valid_kubernetes(path: Path) -> None:
    _, objects = render_case(path)
    for manifest in objects:
        validate(manifest)
        meta = manifest["metadata"]
        assert DNS_LABEL.fullmatch(meta["name"]) and len(meta["name"]) <= 63, meta["name"]
        for key, value in meta["labels"].items():
            assert len(value) <= 63 and LABEL_VALUE.fullmatch(value), (key, value)


def test_no_orphan_outputs(request: pytest.FixtureRequest) -> None:
    orphans = [
        out.name
        for out in TESTDATA.glob("*.out.yaml")
        if not out.with_name(out.name.removesuffix(".out.yaml") + ".in.yaml").exists()
    ]
    if request.config.getoption("--update-golden"):
        for name in orphans:
            (TESTDATA / name).unlink()
    assert orphans == []


def test_long_names_stay_distinct_and_valid() -> None:
    base = "x" * 70
    first, second = names.provisioned_name(base + "a"), names.provisioned_name(base + "b")
    assert first != second
    assert all(len(name) == 63 and DNS_LABEL.fullmatch(name) for name in (first, second))
    # Dots become dashes, and the hash keeps "a.b" and "a-b" apart.
    assert names.provisioned_name("a.b") != names.provisioned_name("a-b") == "agw-a-b"
    assert names.provisioned_name("1st") == "agw-1st"
    assert names.label_value("web") == "web"
    long_value = names.label_value("v." * 100)
    assert len(long_value) <= 63 and LABEL_VALUE.fullmatch(long_value)


def test_service_account_username_matches_the_rendered_service_account() -> None:
    _, objects = render_case(TESTDATA / "gateway-defaults.in.yaml")
    account = next(obj for obj in objects if obj["kind"] == "ServiceAccount")
    meta = account["metadata"]
    expected = f"system:serviceaccount:{meta['namespace']}:{meta['name']}"
    assert names.service_account_username("apps/web") == expected
