"""What every ADS stream state machine keeps, whatever its flavour (SotW or delta): the
proxy's node from its first request, the sync records, the nonce counter and the push
ordering policy."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from envoy.config.core.v3.base_pb2 import Node

from controlplane.xds.errors import MissingNodeId, MissingTypeUrl
from controlplane.xds.metrics import XdsMetrics
from controlplane.xds.push_policy import PushPolicy
from controlplane.xds.sync_status import StreamSync


class StreamMachineBase:
    # Per type URL: the flavour's own record of what was sent, answered and NACKed.
    _types: Mapping[str, Any]

    def __init__(
        self, *, clock: Callable[[], float] = time.time, metrics: XdsMetrics | None = None
    ) -> None:
        self.node: Node | None = None
        self.sync = StreamSync()
        self._clock = clock
        self._metrics = metrics if metrics is not None else XdsMetrics()
        self._nonce = 0
        self._policy = PushPolicy()

    def _all_answered(self) -> bool:
        """Every response sent has been ACKed (none NACKed), and no routes are held back."""
        if self._policy.routes_held():
            return False
        return all(
            state.answered_nonce == state.sent_nonce and not state.nacked
            for state in self._types.values()
        )

    def _identify(self, request: Any) -> None:
        """Keep the node of the first request (later ones may leave it out); refuse a stream
        that never names itself or a request without a type."""
        if self.node is None:
            if not request.node.id:
                raise MissingNodeId("the first request on a stream must carry node.id")
            self.node = Node()
            self.node.CopyFrom(request.node)
        if not request.type_url:
            raise MissingTypeUrl("an aggregated discovery request must carry type_url")
