"""Envoy's warming rule, and which version of each listener and cluster is in effect.

A listener or cluster is ready once everything it refers to (route configuration, secrets,
endpoints) is held. A new one that is not ready is handed to the compiler anyway, which keeps
it out of service and reports it as warming. A *changed* one that is not ready keeps serving
its previous version, and what that version refers to stays subscribed, until the new version
is ready: a live listener is never unbound because its update is warming.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from dataplane.config import XdsResources
from dataplane.xdsclient.references import references
from dataplane.xdsclient.resource_types import (
    CLUSTER,
    CLUSTER_LOAD_ASSIGNMENT,
    EXPLICIT_TYPES,
    LISTENER,
    ROUTE_CONFIGURATION,
    SECRET,
)
from dataplane.xdsclient.store import ResourceStore, StoredResource

# Resources that refer to others; listeners and clusters, the subscriptions' sources.
REFERRING_TYPES = (CLUSTER, LISTENER)
Named = Mapping[str, StoredResource]


@dataclass(frozen=True, slots=True)
class Selection:
    """A store narrowed to what is in use, with the version of each referring resource in
    effect and the new versions that are still warming."""

    store: ResourceStore
    effective: Mapping[str, Named]
    warming: Mapping[str, Named]
    subscriptions: Mapping[str, frozenset[str]]

    def applied(self) -> dict[str, Named]:
        """Type URL to the resources the proxy runs with."""
        resources: dict[str, Named] = dict(self.effective)
        for type_url in EXPLICIT_TYPES:
            resources[type_url] = self.store.of(type_url)
        return resources

    def xds_resources(self) -> XdsResources:
        """Route configurations stay serialized: the compiler takes them by what changed."""

        def messages(type_url: str, named: Named) -> dict[str, object]:
            return {name: res.message for name, res in named.items()}

        applied = self.applied()
        return XdsResources(
            listeners=messages(LISTENER, applied[LISTENER]),
            route_configs={
                name: res.serialized for name, res in applied[ROUTE_CONFIGURATION].items()
            },
            clusters=messages(CLUSTER, applied[CLUSTER]),
            load_assignments=messages(CLUSTER_LOAD_ASSIGNMENT, applied[CLUSTER_LOAD_ASSIGNMENT]),
            secrets=messages(SECRET, applied[SECRET]),
        )


def select(store: ResourceStore, active: Mapping[str, Named]) -> Selection:
    """Pick the version in effect for every listener and cluster in ``store``, given the
    ones ``active`` before, and drop explicit resources nothing refers to any more."""
    needed: dict[str, set[str]] = {type_url: set() for type_url in EXPLICIT_TYPES}
    effective: dict[str, Named] = {}
    warming: dict[str, Named] = {}
    for type_url in REFERRING_TYPES:
        in_effect: dict[str, StoredResource] = {}
        waiting: dict[str, StoredResource] = {}
        previous = active.get(type_url, {})
        for name, resource in store.of(type_url).items():
            wanted = references(type_url, resource.message)
            _add(needed, wanted)
            if _is_ready(wanted, store):
                in_effect[name] = resource
                continue
            waiting[name] = resource
            old = previous.get(name)
            if old is not None and old is not resource:
                old_wanted = references(type_url, old.message)
                if _is_ready(old_wanted, store):
                    _add(needed, old_wanted)
                    in_effect[name] = old
                    continue
            in_effect[name] = resource
        effective[type_url] = MappingProxyType(in_effect)
        warming[type_url] = MappingProxyType(waiting)
    narrowed = store
    for type_url, names in needed.items():
        narrowed = narrowed.restricted(type_url, names)
    return Selection(
        store=narrowed,
        effective=MappingProxyType(effective),
        warming=MappingProxyType(warming),
        subscriptions=MappingProxyType({t: frozenset(n) for t, n in needed.items()}),
    )


def _is_ready(wanted: Mapping[str, frozenset[str]], store: ResourceStore) -> bool:
    return all(names.issubset(store.of(type_url)) for type_url, names in wanted.items())


def _add(needed: dict[str, set[str]], wanted: Mapping[str, frozenset[str]]) -> None:
    for type_url, names in wanted.items():
        needed[type_url].update(names)
