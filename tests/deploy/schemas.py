"""Validation of Kubernetes objects: built-in kinds against the Kubernetes OpenAPI schemas
shipped by kubernetes-validate (strict: unknown fields are errors), agw's and the Gateway
API's own kinds against agw's models, which carry their CRD rules.

Kubernetes versions checked: the oldest agw supports and the newest the package knows."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]
from pydantic import ValidationError

from translator.loader import parse_object

KUBERNETES_VERSIONS = ("1.30.0", kubernetes_validate.latest_version())


def validate(manifest: Mapping[str, Any]) -> None:
    """Raise AssertionError naming the object and the problem when ``manifest`` is invalid."""
    what = f"{manifest.get('kind')} {(manifest.get('metadata') or {}).get('name')}"
    group = str(manifest.get("apiVersion", "")).rpartition("/")[0]
    if group.endswith("gateway.networking.k8s.io") or group == "agentgateway.dev":
        try:
            parsed = parse_object(manifest)
        except ValidationError as error:
            raise AssertionError(f"{what}: {error}") from None
        assert parsed is not None, f"{what}: agw does not model this kind"
        return
    for version in KUBERNETES_VERSIONS:
        try:
            kubernetes_validate.validate(dict(manifest), version, strict=True)
        except kubernetes_validate.ValidationError as error:
            path = ".".join(str(step) for step in error.path)
            raise AssertionError(
                f"{what} (Kubernetes {version}) at {path}: {error.message}"
            ) from None
