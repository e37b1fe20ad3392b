"""Rendering deploy/helm/agw with real Helm (helm-python-sdk links Helm v4's own library,
offline: no cluster, no helm binary) into the objects ``helm install`` would create."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import helm_python
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "agw"
RELEASE = "agw"
NAMESPACE = "agw-system"


def render(values: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Every object of the chart's templates, in template-file order, then the CRDs."""
    with helm_python.Chart.load(CHART) as chart:
        rendered = chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
        crds = [entry["data"] for entry in chart.crds]
    objects: list[dict[str, Any]] = []
    for path in sorted(rendered):
        objects.extend(doc for doc in yaml.safe_load_all(rendered[path]) if doc)
    for text in crds:
        objects.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return objects


def values_file(name: str) -> dict[str, Any]:
    loaded = yaml.safe_load((Path(__file__).parent / name).read_text())
    assert isinstance(loaded, dict)
    return loaded
