"""Golden-file machinery shared by the translator's golden tests.

A case is ``<dir>/<case>.in.yaml`` (Kubernetes YAML, plus an optional ``TranslationOptions``
document) and its expected output ``<case>.out.yaml``. With ``--update-golden`` the output is
rewritten and the test still fails, so a rewrite is never mistaken for a pass."""

from __future__ import annotations

from pathlib import Path

import pytest

TESTDATA = Path(__file__).parent / "testdata"


def cases(stage: str) -> list[Path]:
    return sorted((TESTDATA / stage).glob("*.in.yaml"))


def case_id(path: Path) -> str:
    return path.name.removesuffix(".in.yaml")


def check_golden(request: pytest.FixtureRequest, input_path: Path, actual: str) -> None:
    expected_path = input_path.with_name(case_id(input_path) + ".out.yaml")
    if request.config.getoption("--update-golden"):
        if not expected_path.exists() or expected_path.read_text() != actual:
            expected_path.write_text(actual)
            pytest.fail(
                f"golden file {expected_path.name} rewritten; re-run without --update-golden"
            )
        return
    if not expected_path.exists():
        pytest.fail(f"{expected_path.name} is missing; run pytest --update-golden")
    assert actual == expected_path.read_text(), (
        f"{expected_path.name} differs (pytest --update-golden)"
    )


def remove_orphans(request: pytest.FixtureRequest, stage: str) -> list[str]:
    """Output files without an input; deleted under --update-golden."""
    orphans = []
    for out in sorted((TESTDATA / stage).glob("*.out.yaml")):
        if not out.with_name(out.name.removesuffix(".out.yaml") + ".in.yaml").exists():
            orphans.append(out.name)
            if request.config.getoption("--update-golden"):
                out.unlink()
    return orphans
