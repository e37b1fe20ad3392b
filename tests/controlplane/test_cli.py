"""The agw command line: translate (statuses, IR and xDS output, problems on stderr, exit
codes) and bootstrap (a bootstrap Envoy would read). Long-running subcommands (controlplane,
run) are exercised by the integration and e2e tests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from controlplane.cli import main

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "examples" / "quickstart"


def test_translate_statuses(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["translate", str(EXAMPLE)]) == 0
    statuses = yaml.safe_load(capsys.readouterr().out)
    kinds = {(s["kind"], s["name"]) for s in statuses}
    assert ("Gateway", "quickstart") in kinds and ("HTTPRoute", "echo") in kinds
    gateway = next(s for s in statuses if s["kind"] == "Gateway")
    assert gateway["status"]["addresses"] == [{"type": "IPAddress", "value": "127.0.10.1"}]


@pytest.mark.parametrize("output", ["ir", "xds"])
def test_translate_other_outputs(capsys: pytest.CaptureFixture[str], output: str) -> None:
    assert main(["translate", str(EXAMPLE), "--output", output]) == 0
    data = yaml.safe_load(capsys.readouterr().out)
    assert list(data) == ["default/quickstart"]


def test_translate_reports_problems_and_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "bad.yaml").write_text(
        "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {ports: [{port: 0}]}\n"
    )
    assert main(["translate", str(tmp_path)]) == 1
    assert "bad.yaml: document 1" in capsys.readouterr().err


def test_translate_missing_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["translate", str(tmp_path / "nope")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_translate_controller_name(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["translate", str(EXAMPLE), "--controller-name", "example.com/other"]) == 0
    assert yaml.safe_load(capsys.readouterr().out) == []


def test_bootstrap(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(
            ["bootstrap", "--gateway", "default/web", "--xds-address", "127.0.0.1:15010", "--delta"]
        )
        == 0
    )
    bootstrap = json.loads(capsys.readouterr().out)
    assert bootstrap["node"]["metadata"]["gateway"] == "default/web"
    assert bootstrap["dynamic_resources"]["ads_config"]["api_type"] == "DELTA_GRPC"
    assert main(["bootstrap", "--gateway", "no-slash"]) == 2
