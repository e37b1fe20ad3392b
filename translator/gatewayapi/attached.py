"""The HTTPRoutes and GRPCRoutes attached to our Gateways, kept in step with the ResourceSet.

While the context stays the same (translator.incremental), one ``AttachedRoutes`` serves
translation after translation and takes each one as a change to the routes: a route that
went away is detached (its listener attachments, its status, its routes in the virtual
hosts), a route that came is attached and translated, and the thousands nobody touched cost
nothing. Routes are told apart by identity: sources hand over the very same object while it
is unchanged, and this holds every route it knows, so an id() is never reused under it.

A new ``AttachedRoutes`` takes every route as new; given ``entries`` (what routes did in the
run before, translator.gatewayapi.routes), an unchanged route is replayed, not translated.
Which routes came first never matters: routes attach to HTTP listeners independently of
one another, and each virtual host sorts its routes by a key that orders any two routes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from translator.gatewayapi.assemble import Feed
from translator.gatewayapi.hosttable import HostTable
from translator.gatewayapi.routes import HTTP_KINDS, RouteContext, RouteEntry, object_id
from translator.gatewayapi.status import ObjectId
from translator.memo import IdentityMemo, same_ends


@dataclass(slots=True)
class _Attached:
    route: Any
    entry: RouteEntry
    # The key of its status, when the route is ours.
    status_key: ObjectId | None
    # (route configuration, hostname) of every virtual host it has routes in.
    hosts: list[tuple[str, str]]


class AttachedRoutes:
    def __init__(
        self, context: RouteContext, feeds: Mapping[tuple[str, str], Mapping[int, Feed]]
    ) -> None:
        """``feeds``: per Gateway, by listener index, where its routes go."""
        self.context = context
        self.feeds = feeds
        # The virtual hosts of every route configuration, by its name.
        self.tables: dict[str, HostTable] = {}
        # The rendered status of every route of ours, by object.
        self.statuses: dict[ObjectId, dict[str, Any]] = {}
        self._routes: dict[int, _Attached] = {}
        # The route tuples of the last sync, by kind.
        self._given: dict[str, Sequence[Any]] = {kind: () for kind in HTTP_KINDS}

    def sync(
        self, routes: Mapping[str, Sequence[Any]], entries: IdentityMemo[RouteEntry] | None = None
    ) -> None:
        """Make the attached routes ``routes`` (by kind, as in HTTP_KINDS)."""
        added: list[tuple[str, Any]] = []
        for kind in HTTP_KINDS:
            new, old = routes[kind], self._given[kind]
            if new is old:
                continue
            gone, came = _changed(old, new)
            for route in gone:
                self._remove(id(route))
            added.extend((kind, route) for route in came)
            self._given[kind] = new
        for kind, route in added:
            self._add(route, kind, entries)

    def _add(self, route: Any, kind: str, entries: IdentityMemo[RouteEntry] | None) -> None:
        entry = entries.get(route) if entries is not None else None
        if entry is None:
            entry = self.context.translate_http(route, kind)
            if entries is not None:
                entries.put(route, entry)
        else:
            self.context.replay(entry, route)
        attached = _Attached(route, entry, None, [])
        self._routes[id(route)] = attached
        if entry.status is None or entry.result is None:
            return
        key = attached.status_key = object_id(kind, route)
        self.statuses[key] = entry.rendered_status()
        for gateway, index, hostnames in entry.attachments:
            feed = self.feeds[gateway].get(index)
            if feed is None:
                continue  # a listener with no route configuration (not programmable)
            listener = self.context.states[gateway].listeners[index]
            for hostname in hostnames:
                if feed.takes(listener, hostname):
                    table = self.tables.get(feed.route_config)
                    if table is None:
                        table = self.tables[feed.route_config] = HostTable(feed.route_config)
                    table.add(hostname, id(route), entry.routes_for(feed.port, feed.scheme))
                    attached.hosts.append((feed.route_config, hostname))

    def _remove(self, route_id: int) -> None:
        attached = self._routes.pop(route_id)
        self.context.detach(attached.entry, attached.route)
        for route_config, hostname in attached.hosts:
            self.tables[route_config].remove(hostname, route_id)
        if attached.status_key is not None:
            del self.statuses[attached.status_key]


def _changed(old: Sequence[Any], new: Sequence[Any]) -> tuple[list[Any], list[Any]]:
    """The routes only ``old`` holds, and those only ``new`` holds. Both are sorted by
    namespace and name and an unchanged route is the very same object, so whatever changed
    lies between their common ends; only the routes there are looked at one by one."""
    prefix, suffix = same_ends(old, new)
    old_middle = old[prefix : len(old) - suffix]
    new_middle = new[prefix : len(new) - suffix]
    old_ids = set(map(id, old_middle))
    new_ids = set(map(id, new_middle))
    return (
        [route for route in old_middle if id(route) not in new_ids],
        [route for route in new_middle if id(route) not in old_ids],
    )
