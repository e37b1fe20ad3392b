"""Golden tests for stage 1: Gateway API YAML in, statuses and IR out.

Covers every case under testdata/gatewayapi (valid and invalid inputs, one feature or
condition reason each). Leaves Envoy proto details to the xds golden cases."""

from __future__ import annotations

from operator import itemgetter
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.translator.golden import case_id, cases, check_golden, remove_orphans
from translator.gatewayapi import translate_gateway_api
from translator.loader import load_text
from translator.options import TranslateOptions, is_options_document, options_from_document
from translator.serialize import dump_yaml, to_data

STAGE = "gatewayapi"


def load_case(path: Path) -> tuple[Any, TranslateOptions, list[str]]:
    text = path.read_text()
    options = TranslateOptions()
    for doc in yaml.safe_load_all(text):
        if is_options_document(doc):
            options = options_from_document(doc)
    loaded = load_text(text, path.name)
    return loaded.resource_set(), options, [str(p) for p in loaded.problems]


def render_stage1(path: Path) -> str:
    resources, options, problems = load_case(path)
    result = translate_gateway_api(resources, options)
    statuses = [
        {"kind": key.kind, "namespace": key.namespace, "name": key.name, "status": status}
        for key, status in sorted(result.statuses.items(), key=itemgetter(0))
    ]
    output: dict[str, Any] = {"statuses": statuses, "ir": to_data(result.gateways)}
    if problems:
        output["loadProblems"] = problems
    return dump_yaml(output)


@pytest.mark.parametrize("path", cases(STAGE), ids=case_id)
def test_golden(request: pytest.FixtureRequest, path: Path) -> None:
    check_golden(request, path, render_stage1(path))


def test_no_orphan_outputs(request: pytest.FixtureRequest) -> None:
    assert remove_orphans(request, STAGE) == []


def test_enough_cases() -> None:
    assert len(cases(STAGE)) >= 60
