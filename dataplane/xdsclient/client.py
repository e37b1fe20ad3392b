"""The xDS client's protocol core, without IO: responses in, requests and configs out.

One ``XdsClient`` lives as long as the proxy; streams come and go (``start_stream`` on each
new one, ``stream_ended`` when it breaks) while the store and the running config stay.

A response goes through three steps so that nothing is acknowledged before it runs:

1. ``decode`` turns it into a ``Delivery``;
2. ``prepare`` (pure, safe to run off the event loop) applies it to a candidate store, picks
   the versions in effect (``warming``) and compiles; the result is a ``PendingUpdate`` or a
   ``Rejection``;
3. after the caller ran the update, ``commit`` makes the candidate current and returns the
   subscription changes and the ACK; ``reject`` returns the NACK and keeps the old store.

A NACK is sent once per response and never followed by a request that would make the server
resend the same version. After a CDS update that leaves clusters warming, the CDS ACK is held
(as Envoy holds it) until their endpoints arrive or ``warming_timeout`` passes, so the
control plane sends routes to a cluster only once the proxy can use it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from dataplane.config import EMPTY_CONFIG, compile_config
from dataplane.config.cluster import compile_cluster
from dataplane.config.listener import compile_listener
from dataplane.errors import ConfigRejected
from dataplane.xdsclient.resource_types import (
    CLUSTER,
    EXPLICIT_TYPES,
    LISTENER,
    WILDCARD_TYPES,
    is_known,
)
from dataplane.xdsclient.sink import ConfigUpdate, version_of
from dataplane.xdsclient.status import XdsStatus
from dataplane.xdsclient.store import ResourceStore
from dataplane.xdsclient.warming import Selection, select
from dataplane.xdsclient.wire import Delivery, Subscription, Wire

# Envoy's default initial_fetch_timeout: how long a warming cluster may hold the CDS ACK.
WARMING_TIMEOUT_SECONDS = 15.0
_NO_NAMES: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class PendingUpdate:
    delivery: Delivery
    selection: Selection
    update: ConfigUpdate
    # False when the resources in effect are byte for byte the running ones.
    changes_config: bool


@dataclass(frozen=True, slots=True)
class Rejection:
    delivery: Delivery
    message: str


@dataclass(slots=True)
class _HeldAck:
    delivery: Delivery
    deadline: float


class XdsClient:
    def __init__(
        self,
        wire: Wire,
        node: Any,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        warming_timeout: float = WARMING_TIMEOUT_SECONDS,
        compile_routes: bool = True,
    ) -> None:
        """``compile_routes=False``: route configurations are left to the workers that serve
        them (they check them and NACK through the pool); see ``compile_config``."""
        self.wire = wire
        self.node = node
        self.compile_routes = compile_routes
        self.clock = clock
        self.wall_clock = wall_clock
        self.warming_timeout = warming_timeout
        self.status = XdsStatus(wire.flavour)
        self.store = ResourceStore()
        self.selection = select(self.store, {})
        self.update = ConfigUpdate("", {}, EMPTY_CONFIG)
        self._accepted: set[str] = set()
        # Per stream: what each type is subscribed to, the latest nonce per type, whether the
        # node went out, and a CDS ACK waiting for clusters to warm.
        self._requested: dict[str, Subscription] = {}
        self._nonces: dict[str, str] = {}
        self._node_sent = False
        self._held: _HeldAck | None = None

    # --- stream lifecycle ------------------------------------------------------------------

    def start_stream(self) -> list[Any]:
        """The opening requests of a new stream: LDS and CDS (wildcard) and every explicit
        subscription, each naming the versions already held."""
        self._requested = {}
        self._nonces = {}
        self._node_sent = False
        self._held = None
        self.status.streams_opened += 1
        for type_url in WILDCARD_TYPES:
            self._requested[type_url] = Subscription(type_url, True, _NO_NAMES)
        requests = [self._initial(self._requested[type_url]) for type_url in WILDCARD_TYPES]
        return requests + self._subscription_requests()

    def stream_ended(self, reason: str = "") -> None:
        self._requested = {}
        self._nonces = {}
        self._held = None
        self.status.connected = False
        self.status.last_disconnect = reason

    @property
    def subscriptions(self) -> Mapping[str, Subscription]:
        """What this stream is subscribed to, by type URL."""
        return dict(self._requested)

    # --- responses -------------------------------------------------------------------------

    def decode(self, response: Any) -> Delivery:
        return self.wire.decode(response, self.wall_clock())

    def prepare(self, delivery: Delivery) -> PendingUpdate | Rejection:
        """Apply ``delivery`` to a candidate store and compile it; changes nothing here."""
        if delivery.problem:
            return Rejection(delivery, delivery.problem)
        if not is_known(delivery.type_url):
            return Rejection(delivery, f"type {delivery.type_url!r} is not supported")
        candidate = self.store.updated(
            delivery.type_url,
            delivery.resources,
            delivery.removed,
            replace=delivery.full_state,
        )
        selection = select(candidate, self.selection.effective)
        applied = selection.applied()
        version = version_of(applied)
        try:
            _check_warming_versions(selection)
            if _same_bytes(applied, self.update.resources):
                update = replace(self.update, version=version, resources=applied)
                return PendingUpdate(delivery, selection, update, changes_config=False)
            config = compile_config(
                selection.xds_resources(), version, with_routes=self.compile_routes
            )
        except ConfigRejected as error:
            return Rejection(delivery, str(error))
        except Exception as error:  # a compiler bug must cost a NACK, not a resend loop
            return Rejection(delivery, f"{type(error).__name__}: {error}")
        return PendingUpdate(delivery, selection, ConfigUpdate(version, applied, config), True)

    def commit(self, pending: PendingUpdate) -> list[Any]:
        """``pending`` runs now: make it current; the requests to send, in order."""
        delivery = pending.delivery
        self.store = pending.selection.store
        self.selection = pending.selection
        self.update = pending.update
        self._nonces[delivery.type_url] = delivery.nonce
        self._accepted.add(delivery.type_url)
        status = self.status.of(delivery.type_url)
        status.accepted_version = delivery.version
        status.accepted_at = self.wall_clock()
        status.updates += 1
        if self._accepted.issuperset(WILDCARD_TYPES) and pending.update.is_complete:
            self.status.initialized = True
        requests = self._subscription_requests()
        config = pending.update.config
        if delivery.type_url == CLUSTER and config.warming_clusters:
            self._held = _HeldAck(delivery, self.clock() + self.warming_timeout)
        else:
            requests.append(self.wire.ack(delivery, self._subscription(delivery.type_url)))
        if self._held is not None and not config.warming_clusters:
            requests.append(self._release_held())
        return requests

    def reject(self, rejection: Rejection) -> list[Any]:
        """The NACK for a delivery that could not be compiled or run."""
        delivery = rejection.delivery
        self._nonces[delivery.type_url] = delivery.nonce
        status = self.status.of(delivery.type_url)
        status.nacks += 1
        status.last_nack = rejection.message
        status.last_nack_at = self.wall_clock()
        status.last_nack_version = delivery.version
        return [
            self.wire.nack(
                delivery,
                self._subscription(delivery.type_url),
                status.accepted_version,
                rejection.message,
            )
        ]

    # --- timers ----------------------------------------------------------------------------

    def next_deadline(self) -> float | None:
        return self._held.deadline if self._held is not None else None

    def expire(self) -> list[Any]:
        """Release a held CDS ACK whose clusters did not finish warming in time."""
        if self._held is None or self.clock() < self._held.deadline:
            return []
        return [self._release_held()]

    # --- internals -------------------------------------------------------------------------

    def _release_held(self) -> Any:
        assert self._held is not None
        delivery = self._held.delivery
        self._held = None
        return self.wire.ack(delivery, self._subscription(delivery.type_url))

    def _subscription(self, type_url: str) -> Subscription:
        return self._requested.get(type_url) or Subscription(type_url, False, _NO_NAMES)

    def _initial(self, subscription: Subscription) -> Any:
        node = None if self._node_sent else self.node
        self._node_sent = True
        type_url = subscription.type_url
        held = self.store.versions(type_url)
        if not subscription.wildcard:
            held = {name: v for name, v in held.items() if name in subscription.names}
        accepted = self.status.of(type_url).accepted_version
        return self.wire.initial(subscription, held, accepted, node)

    def _subscription_requests(self) -> list[Any]:
        """Requests that bring each explicit subscription in line with what the current
        listeners and clusters (and the versions still in effect) refer to."""
        requests = []
        for type_url in EXPLICIT_TYPES:
            names = self.selection.subscriptions.get(type_url, _NO_NAMES)
            wanted = Subscription(type_url, False, names)
            current = self._requested.get(type_url)
            if current is None:
                # A first request naming nothing would be a legacy wildcard.
                if names:
                    self._requested[type_url] = wanted
                    requests.append(self._initial(wanted))
            elif current.names != names:
                self._requested[type_url] = wanted
                accepted = self.status.of(type_url).accepted_version
                nonce = self._nonces.get(type_url, "")
                requests.append(self.wire.resubscribe(current, wanted, nonce, accepted))
        return requests


def _same_bytes(
    applied: Mapping[str, Mapping[str, Any]], running: Mapping[str, Mapping[str, Any]]
) -> bool:
    if applied.keys() != running.keys():
        return False
    for type_url, named in applied.items():
        held = running[type_url]
        if named.keys() != held.keys():
            return False
        if any(res.serialized != held[name].serialized for name, res in named.items()):
            return False
    return True


def _check_warming_versions(selection: Selection) -> None:
    """A new version that waits while the previous one serves is still validated now, as
    Envoy validates an update before warming it."""
    for type_url, waiting in selection.warming.items():
        in_effect = selection.effective[type_url]
        for name, resource in waiting.items():
            if in_effect.get(name) is resource:
                continue
            if type_url == LISTENER:
                compile_listener(resource.message)
            else:
                compile_cluster(resource.message, None)
