"""Which resources to watch: every kind the translator models, at the version the cluster
serves, found through discovery.

The candidates come from ``translator.model.SERVED_KINDS`` (so a model added there, such as
an agentgateway.dev kind, is watched without a change here): for each model, its own
group and kind first, then any other spelling (the experimental XListenerSet), each at the
versions the model reads, the most stable first. Discovery picks the first one the server
lists; a kind with none (its CRD is not installed) is reported as missing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from controlplane.sources.kube.api import ApiResource, KubeApi, group_version_path
from controlplane.sources.kube.errors import ObjectNotFound
from translator.model import RESOURCE_KINDS, SERVED_KINDS, Resource

_VERSION = re.compile(r"^v(\d+)(?:(alpha|beta)(\d+))?$")
_STABILITY = {None: 2, "beta": 1, "alpha": 0}


@dataclass(frozen=True)
class WatchedKind:
    model: type[Resource]
    # (group, kind, version), most preferred first.
    candidates: tuple[tuple[str, str, str], ...]

    @property
    def label(self) -> str:
        group = self.model.GROUP
        return f"{self.model.KIND}.{group}" if group else self.model.KIND


def version_priority(version: str) -> tuple[int, int, int]:
    """Kubernetes' order: GA before beta before alpha, then higher numbers first."""
    match = _VERSION.match(version)
    if match is None:
        return (-1, 0, 0)
    major, stability, minor = match.groups()
    return (_STABILITY[stability], int(major), int(minor or 0))


def watched_kinds(models: Iterable[type[Resource]] | None = None) -> list[WatchedKind]:
    """The kinds to watch, in ``SERVED_KINDS`` order: those a ResourceSet holds (optionally
    only these models)."""
    wanted = set(models if models is not None else RESOURCE_KINDS) & set(RESOURCE_KINDS)
    grouped: dict[type[Resource], list[tuple[str, str, str]]] = {}
    for (group, kind), (model, versions) in SERVED_KINDS.items():
        if model not in wanted:
            continue
        ordered = sorted(versions, key=version_priority, reverse=True)
        entries = [(group, kind, version) for version in ordered]
        own = (group, kind) == (model.GROUP, model.KIND)
        found = grouped.setdefault(model, [])
        grouped[model] = entries + found if own else found + entries
    return [WatchedKind(model, tuple(candidates)) for model, candidates in grouped.items()]


class Discovery:
    """Resolves kinds to served resources; one API group-version document per request."""

    def __init__(self, api: KubeApi) -> None:
        self._api = api
        self._documents: dict[str, dict[str, object] | None] = {}

    async def resolve(self, kind: WatchedKind) -> ApiResource | None:
        for group, kind_name, version in kind.candidates:
            document = await self._document(group, version)
            for entry in _resources(document):
                if entry.get("kind") == kind_name and "/" not in str(entry.get("name", "/")):
                    return ApiResource(
                        group, version, str(entry["name"]), kind_name, bool(entry.get("namespaced"))
                    )
        return None

    async def _document(self, group: str, version: str) -> dict[str, object] | None:
        path = group_version_path(group, version)
        if path not in self._documents:
            try:
                self._documents[path] = await self._api.get(path, "get", path)
            except ObjectNotFound:
                self._documents[path] = None
        return self._documents[path]


def _resources(document: dict[str, object] | None) -> list[dict[str, object]]:
    if document is None:
        return []
    resources = document.get("resources")
    if not isinstance(resources, list):
        return []
    return [entry for entry in resources if isinstance(entry, dict)]
