"""The state-of-the-world ADS state machine, driven request by request through a fake proxy
whose checker asserts nonce order, unique names and push order on every response.

Covers the SotW items of XDS-NOTES.md: identity errors, ACK/NACK, stale nonces, subscriptions
(growth, names before they exist, the wildcard forms), full state for LDS/CDS, subscribed names
only for the rest, EDS after a CDS change, reconnects and unknown gateways. Cross-type ordering
(holds, make-before-break) is in test_xds_push_policy.py; gRPC is in test_xds_server.py.
"""

from __future__ import annotations

import pytest
from envoy.service.discovery.v3.discovery_pb2 import DiscoveryRequest

from controlplane.xds.errors import MissingNodeId, MissingTypeUrl
from controlplane.xds.metrics import XdsMetrics
from controlplane.xds.snapshot import Snapshot
from controlplane.xds.sotw import SotwStream
from tests.controlplane import xds_samples as samples
from tests.controlplane.xds_fake_proxy import CLOCK_NOW, SotwProxy, names_of
from tests.controlplane.xds_samples import CDS, EDS, LDS, RDS, SDS


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
        secrets=[samples.secret("s1")],
    )


def test_first_request_without_node_id_is_invalid() -> None:
    with pytest.raises(MissingNodeId):
        SotwStream().receive(DiscoveryRequest(type_url=CDS))


def test_node_is_kept_so_later_requests_need_none() -> None:
    proxy = SotwProxy()
    snapshot = _snapshot()
    [cds] = proxy.request(CDS, [], snapshot)
    assert proxy.machine.node is not None and proxy.machine.node.id == "proxy-1"
    proxy.ack(cds, snapshot)
    # The fake sends node only on the first request, as Envoy does.
    assert len(proxy.request(LDS, [], snapshot)) == 1


def test_request_without_type_url_is_invalid() -> None:
    proxy = SotwProxy()
    with pytest.raises(MissingTypeUrl):
        proxy.request("", [], _snapshot())


def test_unknown_type_gets_one_empty_response_and_the_stream_goes_on() -> None:
    proxy = SotwProxy()
    snapshot = _snapshot()
    [response] = proxy.request("type.googleapis.com/some.Unknown", [], snapshot)
    assert list(response.resources) == []
    assert proxy.ack(response, snapshot) == []
    assert len(proxy.request(CDS, [], snapshot)) == 1


def test_pure_ack_gets_no_response_and_versions_are_per_type() -> None:
    proxy = SotwProxy()
    snapshot = _snapshot()
    [cds] = proxy.request(CDS, [], snapshot)
    assert proxy.ack(cds, snapshot) == []
    [lds] = proxy.request(LDS, [], snapshot)
    assert cds.version_info != lds.version_info
    assert proxy.ack(lds, snapshot) == []
    assert proxy.push(snapshot) == []
    sync = proxy.machine.sync.types[CDS]
    assert sync.version_acked == sync.version_sent == cds.version_info
    assert proxy.machine.sync.synced_snapshot == "v1"


def test_nack_is_recorded_not_answered_and_the_next_change_is_sent() -> None:
    metrics = XdsMetrics()
    proxy = SotwProxy(machine=SotwStream(clock=lambda: CLOCK_NOW, metrics=metrics))
    good, bad, fixed = _snapshot("v1"), _snapshot("v2", timeout=0.0), _snapshot("v3", timeout=2)
    [cds] = proxy.request(CDS, [], good)
    proxy.ack(cds, good)
    [rejected] = proxy.push(bad)
    assert proxy.nack(rejected, bad, "connect_timeout must be > 0") == []
    sync = proxy.machine.sync.types[CDS]
    assert (sync.last_nack, sync.last_nack_time, sync.nacks) == (
        "connect_timeout must be > 0",
        CLOCK_NOW,
        1,
    )
    assert sync.version_acked == cds.version_info
    assert metrics.nacks == 1
    assert proxy.machine.sync.synced_snapshot == ""
    # The rejected content is never sent again, however often the writer wakes.
    assert proxy.push(bad) == [] and proxy.push(bad) == []
    [accepted] = proxy.push(fixed)
    assert accepted.version_info not in (rejected.version_info, cds.version_info)
    proxy.ack(accepted, fixed)
    assert proxy.machine.sync.synced_snapshot == "v3"


def test_nack_then_revert_to_the_accepted_content_is_sent() -> None:
    proxy = SotwProxy()
    good, bad = _snapshot("v1"), _snapshot("v2", timeout=0.0)
    [cds] = proxy.request(CDS, [], good)
    proxy.ack(cds, good)
    [rejected] = proxy.push(bad)
    proxy.nack(rejected, bad)
    [again] = proxy.push(_snapshot("v3"))
    assert again.version_info == cds.version_info


def test_stale_nonce_requests_are_ignored() -> None:
    proxy = SotwProxy()
    first, second = _snapshot("v1"), _snapshot("v2", port=9090)
    [eds1] = proxy.request(EDS, ["c1"], first)
    [eds2] = proxy.push(second)
    # The proxy answers the first response after the second went out: stale, whatever it asks.
    assert proxy.request(EDS, ["c1", "c2"], second, nonce=eds1.nonce) == []
    assert proxy.request(EDS, ["c1"], second, nonce=eds1.nonce, error="old") == []
    assert proxy.machine.sync.types[EDS].nacks == 0
    [grown] = proxy.request(EDS, ["c1", "c2"], second, nonce=eds2.nonce)
    assert names_of(grown) == ["c2"]


def test_subscription_growth_sends_new_names_even_if_unchanged() -> None:
    proxy = SotwProxy()
    snapshot = _snapshot()
    [first] = proxy.request(RDS, ["r1"], snapshot)
    assert names_of(first) == ["r1"]
    [grown] = proxy.ack(first, snapshot, names=["r1", "r2"])
    assert names_of(grown) == ["r2"]
    assert proxy.ack(grown, snapshot, names=["r2"]) == []
    [again] = proxy.request(RDS, ["r1", "r2"], snapshot, nonce=grown.nonce)
    assert names_of(again) == ["r1"]


def test_names_requested_before_they_exist_are_pushed_when_they_appear() -> None:
    proxy = SotwProxy()
    without = _snapshot("v1", routes=("r1",))
    [first] = proxy.request(RDS, ["r1", "r9"], without)
    assert names_of(first) == ["r1"]
    assert proxy.ack(first, without) == []
    with_r9 = _snapshot("v2", routes=("r1", "r9"))
    [pushed] = proxy.push(with_r9)
    assert names_of(pushed) == ["r9"]


def test_legacy_wildcard_and_explicit_star_select_everything() -> None:
    snapshot = _snapshot()
    legacy, star = SotwProxy(), SotwProxy()
    assert names_of(legacy.request(CDS, [], snapshot)[0]) == ["c1", "c2"]
    assert names_of(star.request(CDS, ["*"], snapshot)[0]) == ["c1", "c2"]


def test_star_plus_names_then_names_only_drops_the_wildcard() -> None:
    proxy = SotwProxy()
    snapshot = _snapshot()
    [everything] = proxy.request(EDS, ["*", "c1"], snapshot)
    assert names_of(everything) == ["c1", "c2"]
    assert proxy.ack(everything, snapshot, names=["c1"]) == []
    [only_c1] = proxy.push(_snapshot("v2", port=9090))
    assert names_of(only_c1) == ["c1"]


def test_empty_list_after_explicit_names_selects_nothing() -> None:
    proxy = SotwProxy()
    snapshot = _snapshot()
    [first] = proxy.request(EDS, ["c1"], snapshot)
    assert proxy.ack(first, snapshot, names=[]) == []
    assert proxy.push(_snapshot("v2", port=9090)) == []


def test_listeners_and_clusters_always_go_as_full_state() -> None:
    proxy = SotwProxy()
    snapshot = _snapshot(listeners=("l1", "l2"))
    [lds] = proxy.request(LDS, [], snapshot)
    proxy.ack(lds, snapshot)
    changed = _snapshot("v2", listeners=("l1", "l2", "l3"))
    [full] = proxy.push(changed)
    assert names_of(full) == ["l1", "l2", "l3"]
    proxy.ack(full, changed)
    fewer = _snapshot("v3", listeners=("l3",))
    [by_omission] = proxy.push(fewer)
    assert names_of(by_omission) == ["l3"]
    proxy.ack(by_omission, fewer)
    [empty] = proxy.push(_snapshot("v4", listeners=()))
    assert names_of(empty) == []


def test_other_types_carry_only_subscribed_and_changed_names() -> None:
    proxy = SotwProxy()
    snapshot = _snapshot(clusters=("c1", "c2", "c3"))
    [eds] = proxy.request(EDS, ["c1", "c3"], snapshot)
    assert names_of(eds) == ["c1", "c3"]
    proxy.ack(eds, snapshot)
    only_c3 = samples.snapshot(
        "v2",
        clusters=[samples.eds_cluster(name) for name in ("c1", "c2", "c3")],
        endpoints=[
            samples.load_assignment("c1", [("127.0.0.1", 8080)]),
            samples.load_assignment("c2", [("127.0.0.1", 9999)]),
            samples.load_assignment("c3", [("127.0.0.1", 9999)]),
        ],
        secrets=[samples.secret("s1")],
    )
    [changed] = proxy.push(only_c3)
    assert names_of(changed) == ["c3"]
    [sds] = proxy.request(SDS, ["s1", "s2"], only_c3)
    assert names_of(sds) == ["s1"]


def test_eds_request_after_a_cds_change_is_answered_although_it_looks_like_an_ack() -> None:
    proxy = SotwProxy()
    before, after = _snapshot("v1"), _snapshot("v2", timeout=2.0)
    [cds] = proxy.request(CDS, [], before)
    [eds] = proxy.request(EDS, ["c1", "c2"], before)
    proxy.ack(cds, before)
    proxy.ack(eds, before)
    [cds2] = proxy.push(after)
    # Envoy re-requests EDS with exactly the names, version and nonce of its last ACK.
    [eds2] = proxy.request(EDS, ["c1", "c2"], after, nonce=eds.nonce)
    assert names_of(eds2) == ["c1", "c2"]
    assert proxy.request(EDS, ["c1", "c2"], after, nonce=eds2.nonce) == []
    assert proxy.ack(cds2, after) == []


def test_first_request_on_a_new_stream_is_answered_even_with_a_matching_version() -> None:
    snapshot = _snapshot()
    old = SotwProxy()
    [rds] = old.request(RDS, ["r1"], snapshot)
    reconnected = SotwProxy()
    responses = reconnected.request(RDS, ["r1"], snapshot, nonce="17", version=rds.version_info)
    assert [names_of(response) for response in responses] == [["r1"]]
    assert responses[0].version_info == rds.version_info


def test_unknown_gateway_waits_and_a_removed_snapshot_sends_nothing() -> None:
    proxy = SotwProxy()
    assert proxy.request(CDS, [], None) == []
    assert proxy.request(LDS, [], None) == []
    snapshot = _snapshot()
    [cds] = proxy.push(snapshot)
    assert names_of(cds) == ["c1", "c2"]
    # Listeners follow once the new clusters are ACKed.
    [lds] = proxy.ack(cds, snapshot)
    assert names_of(lds) == ["l1"]
    proxy.ack(lds, snapshot)
    # Removing the gateway never wipes the proxy with empty full-state responses.
    assert proxy.push(None) == []


def test_one_push_goes_secrets_clusters_endpoints_listeners_routes() -> None:
    proxy = SotwProxy()
    first = _snapshot("v1")
    for type_url, names in ((RDS, ["r1"]), (LDS, []), (EDS, ["c1"]), (CDS, []), (SDS, ["s1"])):
        for response in proxy.request(type_url, names, first):
            proxy.ack(response, first)
    changed = samples.snapshot(
        "v2",
        listeners=[samples.listener("l1", "r1", port=10001)],
        routes=[samples.route_config("r1", "c2")],
        clusters=[samples.eds_cluster(name, 3.0) for name in ("c1", "c2")],
        endpoints=[samples.load_assignment(n, [("127.0.0.2", 1)]) for n in ("c1", "c2")],
        secrets=[samples.secret("s1", "rotated")],
    )
    pushed = proxy.push(changed)
    assert [response.type_url for response in pushed] == [SDS, CDS, EDS, LDS, RDS]
