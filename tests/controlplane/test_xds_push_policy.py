"""Cross-type ordering on one stream, in both flavours, through the fake proxies.

Covers: routes wait until new clusters are ACKed (Envoy holds that ACK while they warm);
clusters the snapshot dropped stay until the routes that stopped using them are ACKed, and
stay while those routes are NACKed; a removal that no route cares about goes at once; EDS
follows a CDS change (SotW on the next EDS request, delta in the same push); the pending
removals show in the sync status. Leaves out real Envoy: test_xds_envoy.py switches routes
under traffic.
"""

from __future__ import annotations

from controlplane.xds.snapshot import Snapshot
from tests.controlplane import xds_samples as samples
from tests.controlplane.xds_fake_proxy import DeltaProxy, SotwProxy, names_of
from tests.controlplane.xds_samples import CDS, EDS, LDS, RDS


def _routing_to(version: str, cluster: str, *, others: tuple[str, ...] = ()) -> Snapshot:
    clusters = (cluster, *others)
    return samples.snapshot(
        version,
        listeners=[samples.listener("l1", "r1")],
        routes=[samples.route_config("r1", cluster)],
        clusters=[samples.eds_cluster(name) for name in clusters],
        endpoints=[samples.load_assignment(name, [("127.0.0.1", 80)]) for name in clusters],
    )


def _connected_sotw(snapshot: Snapshot, eds: list[str]) -> SotwProxy:
    proxy = SotwProxy()
    [cds] = proxy.request(CDS, [], snapshot)
    proxy.request(EDS, eds, snapshot)
    proxy.settle(snapshot, [proxy.latest[EDS], cds])
    proxy.settle(snapshot, proxy.request(LDS, [], snapshot))
    proxy.settle(snapshot, proxy.request(RDS, ["r1"], snapshot))
    assert proxy.machine.sync.synced_snapshot == snapshot.version
    return proxy


def _connected_delta(snapshot: Snapshot, eds: list[str]) -> DeltaProxy:
    proxy = DeltaProxy()
    proxy.settle(snapshot, proxy.request(CDS, snapshot))
    proxy.settle(snapshot, proxy.request(EDS, snapshot, subscribe=eds))
    proxy.settle(snapshot, proxy.request(LDS, snapshot))
    proxy.settle(snapshot, proxy.request(RDS, snapshot, subscribe=["r1"]))
    assert proxy.machine.sync.synced_snapshot == snapshot.version
    return proxy


def test_sotw_route_switch_to_a_new_cluster_is_make_before_break() -> None:
    old, new = _routing_to("v1", "a"), _routing_to("v2", "b")
    proxy = _connected_sotw(old, ["a"])
    [cds] = proxy.push(new)
    assert names_of(cds) == ["a", "b"]
    assert proxy.machine.sync.pending_cluster_removals == {"a"}
    # As Envoy does: the new cluster asks for its endpoints before CDS is ACKed.
    [eds] = proxy.request(EDS, ["a", "b"], new, nonce=proxy.latest[EDS].nonce)
    assert names_of(eds) == ["b"]
    assert proxy.ack(eds, new) == []
    [rds] = proxy.ack(cds, new)
    assert rds.type_url == RDS
    [cds_without_a] = proxy.ack(rds, new)
    assert names_of(cds_without_a) == ["b"]
    assert proxy.machine.sync.pending_cluster_removals == frozenset()
    proxy.ack(cds_without_a, new, names=[])
    assert proxy.request(EDS, ["b"], new, nonce=proxy.latest[EDS].nonce) == []
    assert proxy.machine.sync.synced_snapshot == "v2"


def test_delta_route_switch_to_a_new_cluster_is_make_before_break() -> None:
    old, new = _routing_to("v1", "a"), _routing_to("v2", "b")
    proxy = _connected_delta(old, ["a"])
    [cds] = proxy.push(new)
    assert names_of(cds) == ["b"] and list(cds.removed_resources) == []
    assert proxy.machine.sync.pending_cluster_removals == {"a"}
    [eds] = proxy.request(EDS, new, subscribe=["b"])
    assert names_of(eds) == ["b"]
    [rds] = proxy.ack(cds, new)
    assert rds.type_url == RDS
    removals = proxy.ack(rds, new)
    assert [(r.type_url, list(r.removed_resources)) for r in removals] == [
        (CDS, ["a"]),
        (EDS, ["a"]),
    ]
    proxy.settle(new, removals)
    assert proxy.request(EDS, new, unsubscribe=["a"]) == []
    assert proxy.machine.sync.synced_snapshot == "v2"


def test_a_cluster_no_route_uses_is_removed_at_once() -> None:
    old, new = _routing_to("v1", "a", others=("spare",)), _routing_to("v2", "a")
    sotw = _connected_sotw(old, ["a", "spare"])
    [cds] = sotw.push(new)
    assert names_of(cds) == ["a"]
    delta = _connected_delta(old, ["a", "spare"])
    removals = delta.push(new)
    assert [list(removal.removed_resources) for removal in removals] == [["spare"], ["spare"]]


def test_routes_wait_for_new_clusters_and_a_nack_releases_them() -> None:
    old, new = _routing_to("v1", "a"), _routing_to("v2", "b")
    proxy = _connected_sotw(old, ["a"])
    [cds] = proxy.push(new)
    assert proxy.push(new) == []
    # A rejected CDS will never be ACKed: the routes go anyway, they are no worse off.
    [rds] = proxy.nack(cds, new)
    assert rds.type_url == RDS


def test_clusters_stay_while_the_new_routes_are_nacked() -> None:
    old, new = _routing_to("v1", "a", others=("b",)), _routing_to("v2", "b")
    proxy = _connected_sotw(old, ["a", "b"])
    # Nothing new in CDS, so the routes go first and `a` waits for their ACK.
    pushed = proxy.push(new)
    assert [response.type_url for response in pushed] == [RDS]
    assert proxy.machine.sync.pending_cluster_removals == {"a"}
    assert proxy.nack(pushed[0], new) == []
    assert proxy.push(new) == []
    fixed = _routing_to("v3", "b", others=())
    fixed_routes = Snapshot.from_resources(
        {**fixed.resources, RDS: {"r1": samples.route_config("r1", "b", routes=2)}}, "v3"
    )
    [rds] = proxy.push(fixed_routes)
    [cds] = proxy.ack(rds, fixed_routes)
    assert names_of(cds) == ["b"]


def test_sotw_eds_follows_a_cds_change_on_the_next_eds_request() -> None:
    old = _routing_to("v1", "a")
    proxy = _connected_sotw(old, ["a"])
    changed = Snapshot.from_resources(
        {**old.resources, CDS: {"a": samples.eds_cluster("a", connect_timeout=2.0)}}, "v2"
    )
    [cds] = proxy.push(changed)
    [eds] = proxy.request(EDS, ["a"], changed, nonce=proxy.latest[EDS].nonce)
    assert names_of(eds) == ["a"]
    assert proxy.ack(cds, changed) == []


def test_delta_eds_follows_a_cds_change_in_the_same_push() -> None:
    old = _routing_to("v1", "a")
    proxy = _connected_delta(old, ["a"])
    changed = Snapshot.from_resources(
        {**old.resources, CDS: {"a": samples.eds_cluster("a", connect_timeout=2.0)}}, "v2"
    )
    pushed = proxy.push(changed)
    assert [(response.type_url, names_of(response)) for response in pushed] == [
        (CDS, ["a"]),
        (EDS, ["a"]),
    ]
    assert proxy.settle(changed, pushed) == 2
