"""ReferenceGrant checks: may an object in one namespace refer to one in another?"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import NamedTuple

from translator.model import ReferenceGrant


class ReferenceFrom(NamedTuple):
    group: str
    kind: str
    namespace: str


class ReferenceTo(NamedTuple):
    group: str
    kind: str
    namespace: str
    name: str


class ReferenceGrants:
    """Index of grants by target namespace; a same-namespace reference needs no grant."""

    def __init__(self, grants: Iterable[ReferenceGrant]) -> None:
        self._by_namespace: dict[str, list[ReferenceGrant]] = defaultdict(list)
        for grant in grants:
            self._by_namespace[grant.metadata.namespace].append(grant)

    def permits(self, source: ReferenceFrom, target: ReferenceTo) -> bool:
        if source.namespace == target.namespace:
            return True
        for grant in self._by_namespace.get(target.namespace, ()):
            if _grant_allows(grant, source, target):
                return True
        return False


def _grant_allows(grant: ReferenceGrant, source: ReferenceFrom, target: ReferenceTo) -> bool:
    from_ok = any(
        f.group == source.group and f.kind == source.kind and f.namespace == source.namespace
        for f in grant.spec.from_
    )
    if not from_ok:
        return False
    return any(
        t.group == target.group and t.kind == target.kind and (not t.name or t.name == target.name)
        for t in grant.spec.to
    )
