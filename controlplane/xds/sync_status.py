"""Per connected proxy and type: what was sent, what was ACKed, and the last NACK.

The protocol state machines write into ``TypeSync`` records as they go; the registry only holds
references to them, so ``/debug/syncz`` always shows the live state without copying.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(slots=True)
class TypeSync:
    version_sent: str = ""
    nonce_sent: str = ""
    version_acked: str = ""
    # The snapshot the last response was built from.
    snapshot_version: str = ""
    last_nack: str = ""
    last_nack_time: float | None = None
    nacks: int = 0

    def is_acked(self) -> bool:
        return bool(self.nonce_sent) and self.version_acked == self.version_sent


@dataclass(slots=True)
class StreamSync:
    """Owned and updated by one stream's protocol state machine."""

    types: dict[str, TypeSync] = field(default_factory=dict)
    # Clusters the proxy keeps until the routes that stopped using them are ACKed.
    pending_cluster_removals: frozenset[str] = frozenset()
    # The snapshot the proxy has received and ACKed in full; empty while a push is in flight,
    # held back, or rejected.
    synced_snapshot: str = ""

    def type_sync(self, type_url: str) -> TypeSync:
        return self.types.setdefault(type_url, TypeSync())


@dataclass(slots=True)
class ProxySync:
    stream_id: int
    node_id: str
    gateway: str
    flavour: str
    connected_at: float
    stream: StreamSync

    @property
    def types(self) -> Mapping[str, TypeSync]:
        return self.stream.types

    def to_dict(self) -> dict[str, Any]:
        return {
            "stream_id": self.stream_id,
            "node_id": self.node_id,
            "gateway": self.gateway,
            "flavour": self.flavour,
            "connected_at": self.connected_at,
            "types": {url: asdict(sync) for url, sync in sorted(self.types.items())},
            "pending_cluster_removals": sorted(self.stream.pending_cluster_removals),
            "synced_snapshot": self.stream.synced_snapshot,
        }


@dataclass
class SyncStatus:
    """Every open ADS stream, by stream id."""

    _proxies: dict[int, ProxySync] = field(default_factory=dict)
    _stream_ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def next_stream_id(self) -> int:
        return next(self._stream_ids)

    def add(self, proxy: ProxySync) -> None:
        self._proxies[proxy.stream_id] = proxy

    def discard(self, stream_id: int) -> None:
        self._proxies.pop(stream_id, None)

    def __len__(self) -> int:
        return len(self._proxies)

    def __iter__(self) -> Iterator[ProxySync]:
        return iter(list(self._proxies.values()))

    def for_gateway(self, gateway: str) -> list[ProxySync]:
        return [proxy for proxy in self if proxy.gateway == gateway]

    def to_json(self) -> str:
        proxies = sorted(self, key=lambda proxy: (proxy.gateway, proxy.node_id, proxy.stream_id))
        return json.dumps({"proxies": [proxy.to_dict() for proxy in proxies]}, indent=2)
