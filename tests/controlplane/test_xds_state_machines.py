"""Hypothesis drives both protocol state machines through random interleavings of snapshot
changes, ACKs, NACKs, stale requests, subscription changes and writer wake-ups.

Checked on every response: unique increasing nonces, no duplicate names, push order (the fake
proxies' checker). Checked at the end: an Envoy-like client that ACKs everything and follows
CDS with its EDS subscription converges, in a bounded number of exchanges, on a final snapshot
that changes every type: synced, every cluster of the snapshot and no other, no removal
pending. Leaves out IO and timing (test_xds_stream.py, test_xds_envoy.py).
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from controlplane.xds.snapshot import Snapshot
from tests.controlplane import xds_samples as samples
from tests.controlplane.xds_fake_proxy import DeltaProxy, SotwProxy, names_of
from tests.controlplane.xds_samples import CDS, EDS, LDS, RDS, SDS

TYPES = (CDS, EDS, LDS, RDS, SDS)
ROUTES = ("r1", "r2", "final")
SECRETS = ("s1", "final")


def _pool_snapshot(index: int) -> Snapshot:
    clusters = [("a",), ("a", "b"), ("b",), ("b", "c"), ("a", "c"), ("c",)][index]
    return samples.snapshot(
        f"p{index}",
        listeners=[samples.listener(name, "r1") for name in ("l1", "l2")[: 1 + index % 2]],
        routes=[samples.route_config(name, clusters[0]) for name in ROUTES[: 1 + index % 2]],
        clusters=[samples.eds_cluster(name, 1.0 + index % 3) for name in clusters],
        endpoints=[samples.load_assignment(name, [("127.0.0.1", 80 + index)]) for name in clusters],
        secrets=[samples.secret("s1", f"secret-{index % 2}")],
    )


POOL = [_pool_snapshot(index) for index in range(6)]
FINAL = samples.snapshot(
    "final",
    listeners=[samples.listener("final", "final")],
    routes=[samples.route_config(name, "final") for name in ROUTES],
    clusters=[samples.eds_cluster(name, 9.0) for name in ("a", "final")],
    endpoints=[samples.load_assignment(name, [("127.0.0.9", 9)]) for name in ("a", "final")],
    secrets=[samples.secret(name, "final") for name in SECRETS],
)

operations = st.lists(
    st.one_of(
        st.tuples(st.just("publish"), st.integers(0, len(POOL) - 1)),
        st.tuples(st.sampled_from(["ack", "nack", "stale", "resubscribe"]), st.sampled_from(TYPES)),
        st.tuples(st.just("push"), st.none()),
    ),
    max_size=40,
)


def _sotw_step(proxy: SotwProxy, current: Snapshot, op: str, arg: Any) -> Snapshot:
    if op == "publish":
        current = POOL[arg]
        proxy.push(current)
    elif op == "push":
        proxy.push(current)
    elif (latest := proxy.latest.get(arg)) is not None:
        if op == "ack":
            proxy.ack(latest, current)
        elif op == "nack":
            proxy.nack(latest, current)
        elif op == "stale":
            proxy.request(arg, None, current, nonce="1")
        elif arg in (EDS, RDS):
            names = ["a", "c"] if arg == EDS else ["r2"]
            proxy.request(arg, names, current, nonce=latest.nonce)
    return current


def _sotw_settle(proxy: SotwProxy, snapshot: Snapshot) -> None:
    pending = proxy.push(snapshot)
    for _ in range(200):
        if not pending:
            return
        response = pending.pop(0)
        names: list[str] | None = None
        if response.type_url == CDS:
            # Envoy follows CDS with its EDS subscription.
            clusters = names_of(response)
            pending.extend(proxy.ack(response, snapshot))
            eds = proxy.latest.get(EDS)
            pending.extend(proxy.request(EDS, clusters, snapshot, nonce=eds.nonce if eds else ""))
            continue
        if response.type_url == RDS:
            names = list(ROUTES)
        elif response.type_url == SDS:
            names = list(SECRETS)
        pending.extend(proxy.ack(response, snapshot, names))
    raise AssertionError("no convergence: a request loop")


@settings(max_examples=150, deadline=None)
@given(operations)
def test_sotw_converges_after_any_interleaving(steps: list[tuple[str, Any]]) -> None:
    proxy = SotwProxy()
    current = POOL[0]
    for type_url, names in ((CDS, []), (EDS, ["a"]), (LDS, []), (RDS, ["r1"]), (SDS, ["s1"])):
        proxy.request(type_url, names, current)
    for op, arg in steps:
        current = _sotw_step(proxy, current, op, arg)
    _sotw_settle(proxy, FINAL)
    assert proxy.machine.sync.synced_snapshot == "final"
    assert proxy.machine.sync.pending_cluster_removals == frozenset()
    assert names_of(proxy.latest[CDS]) == ["a", "final"]
    assert names_of(proxy.latest[LDS]) == ["final"]


def _delta_step(proxy: DeltaProxy, current: Snapshot, op: str, arg: Any) -> Snapshot:
    if op == "publish":
        current = POOL[arg]
        proxy.push(current)
    elif op == "push":
        proxy.push(current)
    elif (latest := proxy.latest.get(arg)) is not None:
        if op == "ack":
            proxy.ack(latest, current)
        elif op == "nack":
            proxy.nack(latest, current)
        elif op == "stale":
            proxy.request(arg, current, nonce="1")
        elif arg in (EDS, RDS):
            new, old = (["c"], ["b"]) if arg == EDS else (["r2"], [])
            proxy.request(arg, current, subscribe=new, unsubscribe=old, nonce=latest.nonce)
    return current


def _delta_settle(proxy: DeltaProxy, snapshot: Snapshot) -> None:
    pending = proxy.push(snapshot)
    pending.extend(proxy.request(RDS, snapshot, subscribe=list(ROUTES)))
    pending.extend(proxy.request(SDS, snapshot, subscribe=list(SECRETS)))
    for _ in range(200):
        if not pending:
            return
        response = pending.pop(0)
        pending.extend(proxy.ack(response, snapshot))
        if response.type_url == CDS:
            pending.extend(
                proxy.request(
                    EDS,
                    snapshot,
                    subscribe=names_of(response),
                    unsubscribe=list(response.removed_resources),
                )
            )
    raise AssertionError("no convergence: a request loop")


@settings(max_examples=150, deadline=None)
@given(operations)
def test_delta_converges_after_any_interleaving(steps: list[tuple[str, Any]]) -> None:
    proxy = DeltaProxy()
    current = POOL[0]
    proxy.request(CDS, current)
    proxy.request(EDS, current, subscribe=["a"])
    proxy.request(LDS, current)
    proxy.request(RDS, current, subscribe=["r1"])
    proxy.request(SDS, current, subscribe=["s1"])
    for op, arg in steps:
        current = _delta_step(proxy, current, op, arg)
    _delta_settle(proxy, FINAL)
    assert proxy.machine.sync.synced_snapshot == "final"
    assert proxy.machine.sync.pending_cluster_removals == frozenset()
    assert set(proxy.held[CDS]) == {"a", "final"}
    assert set(proxy.held[LDS]) == {"final"}
    assert proxy.held[CDS] == dict(FINAL.versions(CDS))
