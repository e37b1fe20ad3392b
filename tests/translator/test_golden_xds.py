"""Golden tests for stage 2 and the whole pipeline: Gateway API YAML in, Envoy xDS out.

Covers the xDS shape of every feature (listeners, TLS chains, routes, weighted and invalid
backends, redirects, rewrites, mirrors, timeouts, retries, h2c and WebSocket, gRPC, TLS
passthrough and terminate, TCP and UDP proxies), that the output is self-consistent, and that
the real Envoy accepts every case (`envoy --mode validate` on a static bootstrap of it,
without agw's own filters, which only the agw proxy runs).
Statuses are checked by the gatewayapi golden cases."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.translator.golden import case_id, cases, check_golden, remove_orphans
from tests.translator.test_golden_gatewayapi import load_case
from tests.translator.xds.agw_filters import without_agw_filters
from tests.translator.xds.xds_envoy_process import validate
from translator.serialize import dump_yaml
from translator.translate import translate
from translator.xds.dump import resources_to_dicts
from translator.xds.static import static_bootstrap

STAGE = "xds"


@pytest.mark.parametrize("path", cases(STAGE), ids=case_id)
def test_golden(request: pytest.FixtureRequest, path: Path) -> None:
    resources, options, problems = load_case(path)
    assert problems == []
    result = translate(resources, options)
    assert result.inconsistencies == {}
    output = {gateway: resources_to_dicts(xds) for gateway, xds in result.xds.items()}
    check_golden(request, path, dump_yaml(output))


@pytest.mark.parametrize("path", cases(STAGE), ids=case_id)
def test_envoy_accepts(path: Path, tmp_path: Path) -> None:
    resources, options, _ = load_case(path)
    for gateway, xds in translate(resources, options).xds.items():
        checked = validate(static_bootstrap(without_agw_filters(xds), admin_port=0), tmp_path)
        assert checked.returncode == 0, f"{gateway}: {checked.stdout}{checked.stderr}"


def test_no_orphan_outputs(request: pytest.FixtureRequest) -> None:
    assert remove_orphans(request, STAGE) == []
