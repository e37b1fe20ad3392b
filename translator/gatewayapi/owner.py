"""Who declared a listener: its Gateway, or a ListenerSet attached to that Gateway."""

from __future__ import annotations

from typing import NamedTuple


class ListenerOwner(NamedTuple):
    kind: str  # "Gateway" or "ListenerSet"
    namespace: str
    name: str

    @property
    def is_gateway(self) -> bool:
        return self.kind == "Gateway"
