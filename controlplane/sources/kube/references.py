"""Which Secrets and ConfigMaps the translator needs: those some object refers to.

Any reference counts: a map in an object's spec with ``kind`` Secret or ConfigMap in the core
group and a ``name`` (certificateRefs, caCertificateRefs, clientCertificateRef, and whatever a
future policy kind adds), in the referring object's namespace unless it names another one.
Whether a cross-namespace reference is permitted is the translator's question (ReferenceGrant);
here it only decides what the ResourceSet carries. Routes and core kinds refer to neither
kind and are skipped, which keeps this cheap with thousands of routes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from translator.model import (
    ConfigMap,
    EndpointSlice,
    GRPCRoute,
    HTTPRoute,
    Namespace,
    Resource,
    Secret,
    Service,
    TCPRoute,
    TLSRoute,
    UDPRoute,
)

_SKIPPED: tuple[type[Resource], ...] = (
    HTTPRoute,
    GRPCRoute,
    TLSRoute,
    TCPRoute,
    UDPRoute,
    Namespace,
    Service,
    EndpointSlice,
    Secret,
    ConfigMap,
)
_CORE_GROUPS = ("", "core")
# Nesting deeper than this is not a Gateway API object.
_MAX_DEPTH = 32

Reference = tuple[str, str, str]  # kind, namespace, name


def referenced(objects: Iterable[Resource]) -> set[Reference]:
    found: set[Reference] = set()
    for obj in objects:
        if isinstance(obj, _SKIPPED):
            continue
        spec = obj.model_dump(by_alias=True, exclude_none=True, exclude={"metadata", "status"})
        _collect(spec, obj.metadata.namespace, found, 0)
    return found


def _collect(value: Any, namespace: str, found: set[Reference], depth: int) -> None:
    if depth > _MAX_DEPTH:
        return
    if isinstance(value, dict):
        kind = value.get("kind")
        name = value.get("name")
        group = value.get("group", "")
        if kind in ("Secret", "ConfigMap") and group in _CORE_GROUPS and isinstance(name, str):
            found.add((kind, str(value.get("namespace") or namespace), name))
        for item in value.values():
            _collect(item, namespace, found, depth + 1)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _collect(item, namespace, found, depth + 1)
