"""Cross-type ordering on one ADS stream, shared by the SotW and delta state machines.

Three rules from Envoy's warming behaviour (XDS-NOTES.md):

- Routes wait for new clusters. After a CDS response that adds clusters, LDS and RDS are held
  until that response is answered: Envoy holds its CDS ACK until the new clusters finished
  warming, and a route to a cluster it does not know yet answers 503.
- Clusters outlive the routes that use them. A cluster the snapshot dropped stays with the
  proxy until the current listeners and routes are ACKed, since the routes the proxy still
  runs may send traffic to it (make-before-break).
- EDS follows CDS. After a CDS response adds or changes clusters, their endpoints are owed
  even if unchanged; otherwise Envoy keeps the new cluster warming until its initial fetch
  timeout (15 s). SotW pays on the next EDS request, which looks like an ACK; delta pays in
  the same push, since delta Envoy sends no such request.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping

from translator.xds import type_urls

ROUTING_TYPES = frozenset({type_urls.LISTENER, type_urls.ROUTE_CONFIGURATION})


class PushPolicy:
    def __init__(self) -> None:
        # Nonce of the latest CDS response that added clusters, until it (or a later CDS
        # response) is answered.
        self._routes_wait_for: int | None = None
        self._endpoints_owed: set[str] = set()

    def routes_held(self) -> bool:
        return self._routes_wait_for is not None

    def clusters_sent(self, nonce: int, added: Collection[str], updated: Iterable[str]) -> None:
        if added:
            self._routes_wait_for = nonce
        self._endpoints_owed.update(updated)

    def clusters_answered(self, nonce: int) -> None:
        if self._routes_wait_for is not None and nonce >= self._routes_wait_for:
            self._routes_wait_for = None

    def endpoints_sent(self, names: Iterable[str]) -> None:
        self._endpoints_owed.difference_update(names)

    def take_endpoints_owed(self) -> set[str]:
        """The clusters an EDS request must be answered for; asking settles the debt."""
        owed, self._endpoints_owed = self._endpoints_owed, set()
        return owed

    @staticmethod
    def retained_clusters(
        proxy_clusters: Iterable[str], snapshot_clusters: Mapping[str, object], routes_settled: bool
    ) -> set[str]:
        """Clusters the proxy has, the snapshot dropped, and the proxy's routes may still use."""
        if routes_settled:
            return set()
        return {name for name in proxy_clusters if name not in snapshot_clusters}
