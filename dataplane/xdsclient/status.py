"""The xDS client's state as the admin endpoints show it: connection, and per type what was
accepted and what was rejected."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class TypeStatus:
    accepted_version: str = ""
    accepted_at: float | None = None
    updates: int = 0
    nacks: int = 0
    last_nack: str = ""
    last_nack_at: float | None = None
    # The version the control plane sent when it was NACKed.
    last_nack_version: str = ""


@dataclass(slots=True)
class XdsStatus:
    flavour: str
    server: str = ""
    connected: bool = False
    streams_opened: int = 0
    last_disconnect: str = ""
    # CDS and LDS have been accepted and the config was complete at least once (Envoy's
    # "initialized"; it stays so).
    initialized: bool = False
    types: dict[str, TypeStatus] = field(default_factory=dict)

    def of(self, type_url: str) -> TypeStatus:
        return self.types.setdefault(type_url, TypeStatus())

    @property
    def nacks(self) -> int:
        return sum(status.nacks for status in self.types.values())
