"""docs/policies.md and tools/gen_policy_docs.py, which generates its tables.

Covers: the committed generated part is current (``--check``); the enforcement table names
every field of every policy section and marks exactly what enforcement.py leaves out, wholly,
in parts or on Envoy; the generator refuses a file without its markers; every YAML example in
the document is an object agw accepts (so the examples cannot drift from the models).

Leaves out: the hand-written prose (reviewed, not tested) and whether the data planes really
enforce what the table says (the e2e tests on both data planes do that).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tools import gen_policy_docs
from translator.gatewayapi.policy.enforcement import (
    ENVOY_CEL_SUBSET,
    NOT_ENFORCED,
    NOT_ENFORCED_ON_ENVOY,
    NOT_ENFORCED_ON_ENVOY_PARTS,
    NOT_ENFORCED_ON_ENVOY_VALUES,
)
from translator.loader import parse_object
from translator.model.agentgateway_connection import Backend, Frontend
from translator.model.agentgateway_traffic import Traffic

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / "tools" / "gen_policy_docs.py"
DOC = ROOT / "docs" / "policies.md"


def table_rows() -> dict[str, tuple[str, str]]:
    """``section.field`` -> (agw proxy, Envoy) cells of the generated table."""
    rows = {}
    section = ""
    for line in gen_policy_docs.render().splitlines():
        heading = re.fullmatch(r"#### `(\w+)`", line)
        if heading:
            section = heading.group(1)
        row = re.fullmatch(r"\| `(\w+)` \| .* \| (.*) \| (.*) \|", line)
        if row and section:
            rows[f"{section}.{row.group(1)}"] = (row.group(2), row.group(3))
    return rows


def test_the_committed_document_is_current() -> None:
    result = subprocess.run(
        [sys.executable, str(TOOL), "--check"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


def test_the_table_covers_every_field() -> None:
    expected = {
        f"{section}.{info.alias or name}"
        for section, model in (("traffic", Traffic), ("frontend", Frontend), ("backend", Backend))
        for name, info in model.model_fields.items()
    }
    assert set(table_rows()) == expected


def test_the_table_says_what_enforcement_leaves_out() -> None:
    rows = table_rows()
    envoy_parts = set(NOT_ENFORCED_ON_ENVOY_PARTS) | {p for p, _, _ in NOT_ENFORCED_ON_ENVOY_VALUES}
    for path, (proxy, envoy) in rows.items():
        if path in NOT_ENFORCED:
            assert (proxy, envoy) == ("no", "no"), path
        elif path in NOT_ENFORCED_ON_ENVOY:
            assert proxy.startswith("yes") and envoy == "no (agw proxy only)", path
        elif path in envoy_parts:
            assert proxy.startswith("yes") and envoy.startswith("yes, except"), path
        elif path in ENVOY_CEL_SUBSET:
            assert envoy == f"{proxy}; of its CEL, only {ENVOY_CEL_SUBSET[path]}", path
        else:
            assert proxy == envoy and proxy.startswith("yes"), path
    assert rows["traffic.retry"] == ("yes", "yes, except `precondition`, `condition`")
    assert rows["traffic.basicAuthentication"] == ("yes", "yes, except `realm`, `mode: Optional`")
    assert rows["traffic.apiKeyAuthentication"][1] == "yes, except `keyHash`, `mode: Optional`"
    assert rows["frontend.tracing"][1].startswith("yes; of its CEL, only sampling")


def test_a_document_without_markers_is_refused() -> None:
    with pytest.raises(SystemExit):
        gen_policy_docs.splice("# no markers here\n", gen_policy_docs.render())


def yaml_examples() -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", DOC.read_text(), flags=re.DOTALL)


def test_every_example_is_accepted() -> None:
    examples = yaml_examples()
    assert len(examples) >= 10
    for text in examples:
        document = yaml.safe_load(text)
        assert document["kind"] == "AgentgatewayPolicy", text
        assert parse_object(document) is not None, text
