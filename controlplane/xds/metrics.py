"""Counters of the ADS server, as plain ints; the admin server exports them to Prometheus."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(slots=True)
class XdsMetrics:
    # Responses written to proxies, all types and flavours.
    pushes: int = 0
    # Requests that carried error_detail.
    nacks: int = 0
    # Requests received, ACKs and NACKs included; a request loop shows up here first.
    requests: int = 0
    # ADS streams open right now.
    connected_proxies: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)
