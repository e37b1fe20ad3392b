"""The xDS client core against the control plane's real protocol state machines, in memory,
both flavours: the initial fetch completes and ACKs everything; explicit subscriptions follow
the listeners and clusters (renames subscribe the new name, unsubscribe the old one and drop
its resource); a resource the proxy cannot run is NACKed once with INVALID_ARGUMENT and a
reason, the previous config stays, nothing is resent, and the fix is accepted; removals (delta
``removed_resources``, SotW omission) take listeners and clusters away; a reconnect resumes
from what the client holds (delta ``initial_resource_versions``) without re-running the config.

Leaves out gRPC and the proxy itself (test_xdsclient_transport.py, test_proxy_controlplane.py)
and the warming corner cases a well-behaved server never produces (test_xdsclient_warming.py).
"""

from __future__ import annotations

import pytest
from envoy.config.cluster.v3.cluster_pb2 import Cluster

from controlplane.xds.snapshot import Snapshot
from tests.controlplane import xds_samples as samples
from tests.controlplane.xds_samples import CDS, EDS, LDS, RDS
from tests.dataplane.test_xdsclient_pair import Pair

pytestmark = pytest.mark.parametrize("flavour", ["sotw", "delta"])
ENDPOINT = ("127.0.20.9", 8080)


def gateway(
    version: str,
    *,
    route: str = "routes",
    clusters: tuple[str, ...] = ("a",),
    listeners: tuple[str, ...] = ("http",),
    lb_policy: int | None = None,
) -> Snapshot:
    cluster_protos = [samples.eds_cluster(name) for name in clusters]
    if lb_policy is not None:
        cluster_protos[0].lb_policy = lb_policy
    return samples.snapshot(
        version,
        listeners=[
            samples.listener(name, route, "127.0.20.1", 10000 + index)
            for index, name in enumerate(listeners)
        ],
        routes=[samples.route_config(route, clusters[0])],
        clusters=cluster_protos,
        endpoints=[samples.load_assignment(name, [ENDPOINT]) for name in clusters],
    )


def connected(flavour: str, snapshot: Snapshot) -> Pair:
    pair = Pair(flavour)
    pair.connect()
    pair.exchange(snapshot)
    return pair


def test_initial_fetch_completes_and_acks_every_type(flavour: str) -> None:
    pair = connected(flavour, gateway("v1"))
    assert pair.config.is_complete
    assert set(pair.config.listeners) == {"http"}
    assert set(pair.config.clusters) == {"a"}
    assert pair.config.clusters["a"].endpoints[0].port == 8080
    assert pair.client.status.initialized
    assert pair.server.sync.synced_snapshot == "v1"
    assert not pair.nacks
    subscriptions = pair.client.subscriptions
    assert subscriptions[EDS].names == {"a"} and subscriptions[RDS].names == {"routes"}
    assert subscriptions[LDS].wildcard and subscriptions[CDS].wildcard


def test_subscriptions_follow_renamed_routes_and_clusters(flavour: str) -> None:
    pair = connected(flavour, gateway("v1"))
    pair.exchange(gateway("v2", route="routes-2", clusters=("b",)))
    subscriptions = pair.client.subscriptions
    assert subscriptions[RDS].names == {"routes-2"}
    assert subscriptions[EDS].names == {"b"}
    assert pair.proto_names(RDS) == {"routes-2"}
    assert pair.proto_names(EDS) == {"b"}
    assert set(pair.config.clusters) == {"b"} and set(pair.config.route_tables) == {"routes-2"}
    assert pair.server.sync.synced_snapshot == "v2"
    assert not pair.nacks


def test_unsupported_value_is_nacked_once_and_the_old_config_stays(flavour: str) -> None:
    pair = connected(flavour, gateway("v1"))
    before = pair.client.update
    bad = gateway("v2", lb_policy=Cluster.MAGLEV)
    pair.exchange(bad)
    [nack] = pair.nacks
    assert nack.type_url == CDS
    assert nack.error_detail.code == 3
    assert "lb_policy" in nack.error_detail.message
    assert pair.client.update.config is before.config
    assert pair.client.status.of(CDS).nacks == 1
    assert pair.server.sync.type_sync(CDS).last_nack == nack.error_detail.message
    # The server does not resend the rejected version, and the client asks for nothing.
    requests = len(pair.requests)
    assert pair.exchange(bad) == 0 and len(pair.requests) == requests
    pair.exchange(gateway("v3", clusters=("a", "c")))
    assert set(pair.config.clusters) == {"a", "c"}
    assert len(pair.nacks) == 1


def test_removed_listener_and_cluster_go_away(flavour: str) -> None:
    pair = connected(flavour, gateway("v1", clusters=("a", "b"), listeners=("http", "admin")))
    assert set(pair.config.listeners) == {"http", "admin"}
    pair.exchange(gateway("v2", clusters=("a",), listeners=("http",)))
    assert set(pair.config.listeners) == {"http"}
    assert set(pair.config.clusters) == {"a"}
    assert pair.proto_names(EDS) == {"a"}
    if flavour == "delta":
        removals = [r for r in pair.requests if getattr(r, "resource_names_unsubscribe", None)]
        assert [list(r.resource_names_unsubscribe) for r in removals] == [["b"]]


def test_reconnect_resumes_without_rerunning_the_config(flavour: str) -> None:
    snapshot = gateway("v1")
    pair = connected(flavour, snapshot)
    applied = len(pair.applied)
    pair.client.stream_ended("test")
    pair.connect()
    opening = list(pair.inbox)
    pair.exchange(snapshot)
    assert len(pair.applied) == applied, "an unchanged config is not applied again"
    assert pair.server.sync.synced_snapshot == "v1"
    if flavour == "delta":
        held = {r.type_url: dict(r.initial_resource_versions) for r in opening}
        assert held[CDS] == snapshot.versions(CDS)
        assert held[EDS] == snapshot.versions(EDS)
    else:
        versions = {r.type_url: r.version_info for r in opening}
        assert versions[CDS] == pair.client.status.of(CDS).accepted_version != ""
