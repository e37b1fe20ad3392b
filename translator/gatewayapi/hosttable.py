"""The virtual hosts of one route configuration, kept up to date route by route.

A route configuration has one virtual host per hostname, holding every route served there
sorted by Gateway API precedence (see assemble.py for which routes a hostname takes).
``HostTable`` receives each attached route's IR routes per hostname (``add``) and loses them
when the route goes away (``remove``); only the hostnames a change touched are sorted and
built again, and every other virtual host stays the very same object, which is what lets
stage 2 reuse its protos by identity. What the listener needs to know about the routes (CORS,
external auth, session kinds) and the clusters they use are kept per hostname as well, so
none of it walks every route again."""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from dataclasses import dataclass
from itertools import chain
from operator import itemgetter
from typing import Any

from translator import ir, naming

# An IR route with its precedence sort key (translator.gatewayapi.httproute).
KeyedRoute = tuple[tuple[Any, ...], ir.Route]
_KEY = itemgetter(0)


@dataclass(frozen=True, slots=True)
class HostSummary:
    """What a route configuration's filter chain and cluster list need from one host."""

    cors: bool
    # External auth settings by filter name; of two routes naming one, the later wins.
    ext_auths: dict[str, ir.ExtAuth]
    session_kinds: frozenset[ir.SessionKind]
    clusters: frozenset[str]

    @classmethod
    def of(cls, host: ir.VirtualHost) -> HostSummary:
        ext_auths: dict[str, ir.ExtAuth] = {}
        kinds: set[ir.SessionKind] = set()
        clusters: set[str] = set()
        cors = False
        for route in host.routes:
            cors = cors or route.cors is not None
            action = route.action
            if isinstance(action, ir.ForwardAction):
                clusters.update(b.cluster for b in action.backends if b.cluster is not None)
                clusters.update(m.cluster for m in action.mirrors)
                if action.session is not None:
                    kinds.add(action.session.kind)
            if route.ext_auth is not None:
                ext_auths[route.ext_auth.name] = route.ext_auth
                clusters.add(route.ext_auth.cluster)
        return cls(cors, ext_auths, frozenset(kinds), frozenset(clusters))


class HostTable:
    def __init__(self, name: str) -> None:
        self.name = name
        # Hostname -> the routes each attached route (by id) contributes there. A route with
        # no IR routes left still makes its hostname a (routeless) virtual host.
        self._routes: dict[str, dict[int, list[KeyedRoute]]] = {}
        self._hosts: dict[str, ir.VirtualHost] = {}
        self._summaries: dict[str, HostSummary] = {}
        # The keys of _hosts sorted, and their hosts in the same order (once clean).
        self._names: list[str] = []
        self._ordered: list[ir.VirtualHost] = []
        self._dirty: set[str] = set()
        self._built: tuple[ir.VirtualHost, ...] | None = ()
        self._cors_hosts: set[str] = set()
        self._ext_auth_hosts: set[str] = set()
        self._session_hosts: set[str] = set()
        self._clusters: Counter[str] = Counter()

    def add(self, hostname: str, owner: int, routes: list[KeyedRoute]) -> None:
        """``owner``'s routes for ``hostname`` (one call per owner and hostname)."""
        self._routes.setdefault(hostname, {})[owner] = routes
        self._dirty.add(hostname)
        self._built = None

    def remove(self, hostname: str, owner: int) -> None:
        by_owner = self._routes.get(hostname)
        if by_owner is None or by_owner.pop(owner, None) is None:
            return
        if not by_owner:
            del self._routes[hostname]
        self._dirty.add(hostname)
        self._built = None

    def has_host(self, hostname: str) -> bool:
        return hostname in self._routes

    def virtual_hosts(self) -> tuple[ir.VirtualHost, ...]:
        """Sorted by hostname."""
        if self._built is None:
            for hostname in self._dirty:
                self._rebuild(hostname)
            self._dirty.clear()
            self._built = tuple(self._ordered)
        return self._built

    def uses_cors(self) -> bool:
        self.virtual_hosts()
        return bool(self._cors_hosts)

    def ext_auths(self) -> tuple[ir.ExtAuth, ...]:
        """The distinct external-auth settings the routes use, by name (the last route in
        host and route order wins a name)."""
        self.virtual_hosts()
        found: dict[str, ir.ExtAuth] = {}
        for hostname in sorted(self._ext_auth_hosts):
            found.update(self._summaries[hostname].ext_auths)
        return tuple(found[name] for name in sorted(found))

    def session_kinds(self) -> tuple[ir.SessionKind, ...]:
        self.virtual_hosts()
        summaries = [self._summaries[hostname] for hostname in self._session_hosts]
        return tuple(sorted(set(chain.from_iterable(s.session_kinds for s in summaries))))

    def clusters(self) -> set[str]:
        """Every cluster a route forwards, mirrors or sends external auth checks to."""
        self.virtual_hosts()
        return set(self._clusters)

    def _rebuild(self, hostname: str) -> None:
        old = self._summaries.pop(hostname, None)
        if old is not None:
            self._forget(hostname, old)
        by_owner = self._routes.get(hostname)
        at = bisect_left(self._names, hostname)
        if by_owner is None:
            if self._hosts.pop(hostname, None) is not None:
                del self._names[at]
                del self._ordered[at]
            return
        keyed = sorted(chain.from_iterable(by_owner.values()), key=_KEY)
        host = ir.VirtualHost(
            name=naming.virtual_host(self.name, hostname),
            domains=(hostname,),
            routes=tuple(route for _, route in keyed),
        )
        if hostname in self._hosts:
            self._ordered[at] = host
        else:
            self._names.insert(at, hostname)
            self._ordered.insert(at, host)
        self._hosts[hostname] = host
        summary = HostSummary.of(host)
        self._summaries[hostname] = summary
        self._learn(hostname, summary)

    def _learn(self, hostname: str, summary: HostSummary) -> None:
        if summary.cors:
            self._cors_hosts.add(hostname)
        if summary.ext_auths:
            self._ext_auth_hosts.add(hostname)
        if summary.session_kinds:
            self._session_hosts.add(hostname)
        self._clusters.update(summary.clusters)

    def _forget(self, hostname: str, summary: HostSummary) -> None:
        self._cors_hosts.discard(hostname)
        self._ext_auth_hosts.discard(hostname)
        self._session_hosts.discard(hostname)
        self._clusters.subtract(summary.clusters)
        for cluster in summary.clusters:
            if self._clusters[cluster] <= 0:
                del self._clusters[cluster]
