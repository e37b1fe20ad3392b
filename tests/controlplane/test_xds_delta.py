"""The delta ADS state machine, driven request by request through a fake proxy whose checker
asserts nonce order, unique names and push order on every response.

Covers the delta items of XDS-NOTES.md: identity errors, content-hash versions,
initial_resource_versions, answering every subscribe, unsubscribe-only requests, the wildcard
forms, removed_resources, stale-nonce subscription changes, ACK/NACK, names before they exist,
and unknown gateways. Cross-type ordering is in test_xds_push_policy.py.
"""

from __future__ import annotations

import pytest
from envoy.service.discovery.v3.discovery_pb2 import DeltaDiscoveryRequest

from controlplane.xds.delta import DeltaStream
from controlplane.xds.errors import MissingNodeId, MissingTypeUrl
from controlplane.xds.metrics import XdsMetrics
from controlplane.xds.snapshot import Snapshot
from tests.controlplane import xds_samples as samples
from tests.controlplane.xds_fake_proxy import CLOCK_NOW, DeltaProxy, names_of
from tests.controlplane.xds_samples import CDS, EDS, LDS, RDS


def _snapshot(
    version: str = "v1",
    *,
    routes: tuple[str, ...] = ("r1", "r2"),
    listeners: tuple[str, ...] = ("l1",),
    clusters: tuple[str, ...] = ("c1", "c2"),
    timeout: float = 1.0,
    port: int = 8080,
) -> Snapshot:
    return samples.snapshot(
        version,
        listeners=[samples.listener(name, "r1") for name in listeners],
        routes=[samples.route_config(name, "c1") for name in routes],
        clusters=[samples.eds_cluster(name, timeout) for name in clusters],
        endpoints=[samples.load_assignment(name, [("127.0.0.1", port)]) for name in clusters],
    )


def test_first_request_without_node_id_is_invalid() -> None:
    with pytest.raises(MissingNodeId):
        DeltaStream().receive(DeltaDiscoveryRequest(type_url=CDS))


def test_request_without_type_url_is_invalid() -> None:
    with pytest.raises(MissingTypeUrl):
        DeltaProxy().request("", _snapshot())


def test_resource_versions_are_content_hashes() -> None:
    first, second = DeltaProxy(), DeltaProxy()
    [one] = first.request(CDS, _snapshot("v1"))
    [two] = second.request(CDS, _snapshot("v2"))
    assert {r.name: r.version for r in one.resources} == {r.name: r.version for r in two.resources}
    assert one.system_version_info == "v1" and two.system_version_info == "v2"
    assert {r.name: r.version for r in one.resources} == dict(_snapshot().versions(CDS))


def test_initial_resource_versions_are_honoured() -> None:
    snapshot = _snapshot(timeout=2.0)
    held = dict(_snapshot().versions(CDS))
    proxy = DeltaProxy()
    # The proxy reconnects holding c1 and c2 at the old timeout and a c9 that no longer exists.
    [response] = proxy.request(CDS, snapshot, initial={**held, "c9": "old"})
    assert names_of(response) == ["c1", "c2"]
    assert list(response.removed_resources) == ["c9"]
    unchanged = DeltaProxy()
    [empty] = unchanged.request(CDS, snapshot, initial=dict(snapshot.versions(CDS)))
    # Answered, so the proxy's initial fetch completes, but with nothing to change.
    assert names_of(empty) == [] and list(empty.removed_resources) == []


def test_every_subscribe_is_answered_even_when_already_held() -> None:
    proxy = DeltaProxy()
    snapshot = _snapshot()
    [first] = proxy.request(EDS, snapshot, subscribe=["c1"])
    assert names_of(first) == ["c1"]
    [again] = proxy.request(EDS, snapshot, subscribe=["c1"], nonce=first.nonce)
    assert names_of(again) == ["c1"]


def test_pure_ack_and_unsubscribe_only_get_no_response() -> None:
    proxy = DeltaProxy()
    snapshot = _snapshot()
    [first] = proxy.request(EDS, snapshot, subscribe=["c1", "c2"])
    assert proxy.ack(first, snapshot) == []
    assert proxy.request(EDS, snapshot, unsubscribe=["c2"]) == []
    assert proxy.push(_snapshot("v2", port=9)) != []
    [resubscribed] = proxy.request(EDS, _snapshot("v2", port=9), subscribe=["c2"])
    assert names_of(resubscribed) == ["c2"]


def test_subscription_changes_apply_whatever_the_nonce() -> None:
    proxy = DeltaProxy()
    [first] = proxy.request(RDS, _snapshot(), subscribe=["r1"])
    changed = samples.snapshot(
        "v2", routes=[samples.route_config("r1", "c2"), samples.route_config("r3", "c1")]
    )
    [second] = proxy.push(changed)
    # The proxy has not seen `second` yet; its subscribe still counts.
    [answer] = proxy.request(RDS, changed, nonce=first.nonce, subscribe=["r3"])
    assert names_of(answer) == ["r3"]
    assert int(second.nonce) > int(first.nonce)


def test_legacy_and_explicit_wildcards() -> None:
    snapshot = _snapshot()
    legacy, star, named = DeltaProxy(), DeltaProxy(), DeltaProxy()
    assert names_of(legacy.request(CDS, snapshot)[0]) == ["c1", "c2"]
    assert names_of(star.request(CDS, snapshot, subscribe=["*"])[0]) == ["c1", "c2"]
    assert names_of(named.request(CDS, snapshot, subscribe=["c2"])[0]) == ["c2"]


def test_wildcard_client_keeps_a_resource_it_unsubscribed_by_name() -> None:
    proxy = DeltaProxy()
    snapshot = _snapshot()
    [first] = proxy.request(EDS, snapshot, subscribe=["*", "c1"])
    assert names_of(first) == ["c1", "c2"]
    # Still wanted through the wildcard: no removal, and no resend either.
    assert proxy.request(EDS, snapshot, unsubscribe=["c1"], nonce=first.nonce) == []
    [changed] = proxy.push(_snapshot("v2", port=9))
    assert names_of(changed) == ["c1", "c2"]
    # Dropping the wildcard leaves nothing subscribed.
    assert proxy.request(EDS, snapshot, unsubscribe=["*"], nonce=changed.nonce) == []
    assert proxy.push(_snapshot("v3", port=10)) == []


def test_removed_resources_for_deleted_listeners_clusters_and_subscribed_names() -> None:
    proxy = DeltaProxy()
    snapshot = _snapshot(listeners=("l1", "l2"))
    [lds] = proxy.request(LDS, snapshot)
    [rds] = proxy.request(RDS, snapshot, subscribe=["r1", "r2"])
    proxy.ack(lds, snapshot)
    proxy.ack(rds, snapshot)
    smaller = _snapshot("v2", listeners=("l1",), routes=("r1",))
    pushed = proxy.push(smaller)
    assert [(names_of(r), list(r.removed_resources)) for r in pushed] == [
        ([], ["l2"]),
        ([], ["r2"]),
    ]


def test_names_subscribed_before_they_exist_are_pushed_when_they_appear() -> None:
    proxy = DeltaProxy()
    [first] = proxy.request(RDS, _snapshot(routes=("r1",)), subscribe=["r1", "r9"])
    assert names_of(first) == ["r1"] and list(first.removed_resources) == []
    proxy.ack(first, _snapshot(routes=("r1",)))
    [appeared] = proxy.push(_snapshot("v2", routes=("r1", "r9")))
    assert names_of(appeared) == ["r9"]


def test_nack_is_recorded_and_the_rejected_versions_are_not_resent() -> None:
    metrics = XdsMetrics()
    proxy = DeltaProxy(machine=DeltaStream(clock=lambda: CLOCK_NOW, metrics=metrics))
    good, bad, fixed = _snapshot("v1"), _snapshot("v2", timeout=0.0), _snapshot("v3", timeout=3)
    [cds] = proxy.request(CDS, good)
    proxy.ack(cds, good)
    [rejected] = proxy.push(bad)
    assert proxy.nack(rejected, bad, "connect_timeout") == []
    sync = proxy.machine.sync.types[CDS]
    assert (sync.last_nack, sync.last_nack_time, sync.nacks, metrics.nacks) == (
        "connect_timeout",
        CLOCK_NOW,
        1,
        1,
    )
    assert proxy.machine.sync.synced_snapshot == ""
    assert proxy.push(bad) == []
    [accepted] = proxy.push(fixed)
    assert names_of(accepted) == ["c1", "c2"]
    assert proxy.ack(accepted, fixed) == []
    assert sync.version_acked == sync.version_sent
    assert proxy.machine.sync.synced_snapshot == "v3"


def test_unknown_gateway_waits_and_removal_sends_nothing() -> None:
    proxy = DeltaProxy()
    assert proxy.request(CDS, None) == []
    snapshot = _snapshot()
    [cds] = proxy.push(snapshot)
    assert names_of(cds) == ["c1", "c2"]
    proxy.ack(cds, snapshot)
    assert proxy.push(None) == []
