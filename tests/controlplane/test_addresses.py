"""Embedded-mode address pool: stable, distinct addresses; requested addresses honoured when
they lie in the pool; forgotten Gateways free their address; exhaustion is an error."""

from __future__ import annotations

import pytest

from controlplane.addresses import AddressPool, AddressPoolExhausted


def test_addresses_are_distinct_stable_and_in_the_pool() -> None:
    pool = AddressPool("127.0.10.0/24")
    names = [(f"ns/gw-{i}", []) for i in range(50)]
    first = pool.assign(names)
    assert len(set(first.values())) == 50
    assert all(pool.contains(a) for a in first.values())
    assert all(a not in ("127.0.10.0", "127.0.10.255") for a in first.values())
    assert AddressPool("127.0.10.0/24").assign(names) == first  # a restart gives the same
    assert pool.assign(names) == first


def test_requested_address_in_pool_is_used_and_outside_is_ignored() -> None:
    pool = AddressPool("127.0.10.0/24")
    got = pool.assign([("a/x", ["127.0.10.77"]), ("b/y", ["10.1.2.3"])])
    assert got["a/x"] == "127.0.10.77"
    assert pool.contains(got["b/y"])
    moved = pool.assign([("a/x", ["127.0.10.78"]), ("b/y", ["10.1.2.3"])])
    assert moved["a/x"] == "127.0.10.78"
    assert moved["b/y"] == got["b/y"]


def test_removed_gateway_frees_its_address() -> None:
    pool = AddressPool("127.0.10.0/30")  # two usable hosts
    pool.assign([("a/1", []), ("a/2", [])])
    with pytest.raises(AddressPoolExhausted):
        pool.assign([("a/1", []), ("a/2", []), ("a/3", [])])
    assert set(pool.assign([("a/3", [])])) == {"a/3"}
