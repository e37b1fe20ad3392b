"""Embedded-mode address assignment: every Gateway gets its own loopback (or other) address
from a pool, stable for as long as the Gateway exists, so several Gateways can listen on the
same port side by side."""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Iterable


class AddressPoolExhausted(Exception):
    pass


class AddressPool:
    def __init__(self, cidr: str) -> None:
        self.network = ipaddress.ip_network(cidr, strict=False)
        # Network and broadcast addresses are left out for pools large enough to have them.
        hosts = list(self.network.hosts()) if self.network.num_addresses > 2 else list(self.network)
        self._hosts = [str(h) for h in hosts]
        self._by_gateway: dict[str, str] = {}

    def contains(self, address: str) -> bool:
        try:
            return ipaddress.ip_address(address) in self.network
        except ValueError:
            return False

    def assign(self, gateways: Iterable[tuple[str, list[str]]]) -> dict[str, str]:
        """``gateways``: ("namespace/name", requested IPs from spec.addresses) for every Gateway
        that exists now. Returns the address of each; forgets Gateways that are gone."""
        wanted = dict(gateways)
        self._by_gateway = {g: a for g, a in self._by_gateway.items() if g in wanted}
        taken = set(self._by_gateway.values())
        for gateway in sorted(wanted):
            if gateway in self._by_gateway:
                current = self._by_gateway[gateway]
                requested = [a for a in wanted[gateway] if self.contains(a)]
                if not requested or current in requested:
                    continue
                taken.discard(current)
                del self._by_gateway[gateway]
            address = self._choose(gateway, wanted[gateway], taken)
            self._by_gateway[gateway] = address
            taken.add(address)
        return dict(self._by_gateway)

    def _choose(self, gateway: str, requested: list[str], taken: set[str]) -> str:
        for address in requested:
            if self.contains(address) and address not in taken:
                return address
        if not self._hosts:
            raise AddressPoolExhausted(f"address pool {self.network} is empty")
        # Start from a hash of the name so a Gateway gets the same address across restarts.
        start = int.from_bytes(hashlib.sha256(gateway.encode()).digest()[:8], "big") % len(
            self._hosts
        )
        for offset in range(len(self._hosts)):
            address = self._hosts[(start + offset) % len(self._hosts)]
            if address not in taken:
                return address
        raise AddressPoolExhausted(f"address pool {self.network} has no free address for {gateway}")
