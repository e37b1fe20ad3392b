"""The xDS client core fed hand-made responses, for orderings a server may legitimately
produce: a changed listener whose new route configuration has not arrived keeps serving its
previous version (and keeps that route configuration subscribed) until it does; a new
listener without its routes is warming and the proxy is not initialized; a new cluster
without endpoints holds the CDS ACK until its endpoints arrive, or until the warming timeout;
a new listener version that cannot run is NACKed at once even while the old one serves; SotW
EDS responses that omit unchanged names keep them; delta removals (``removed_resources`` and
bodiless resources); undecodable and duplicate resources are NACKed.

Leaves out the server's side of the protocol (test_xdsclient_core.py) and IO.
"""

from __future__ import annotations

from typing import Any

from envoy.service.discovery.v3.discovery_pb2 import (
    DeltaDiscoveryResponse,
    DiscoveryResponse,
    Resource,
)
from google.protobuf.any_pb2 import Any as AnyProto

from dataplane.xdsclient.dump import config_dump
from tests.controlplane import xds_samples as samples
from tests.controlplane.xds_samples import CDS, EDS, LDS, RDS
from tests.dataplane.test_xdsclient_pair import Pair

ENDPOINT = ("127.0.20.9", 8080)
_nonces = iter(range(1, 1_000_000))


def sotw(type_url: str, version: str, *messages: Any) -> DiscoveryResponse:
    return DiscoveryResponse(
        type_url=type_url,
        version_info=version,
        nonce=str(next(_nonces)),
        resources=[AnyProto(type_url=type_url, value=m.SerializeToString()) for m in messages],
    )


def delta(
    type_url: str, *messages: Any, removed: tuple[str, ...] = (), bodiless: tuple[str, ...] = ()
) -> DeltaDiscoveryResponse:
    resources = [
        Resource(
            name=m.cluster_name if type_url == EDS else m.name,
            version=str(hash(m.SerializeToString())),
            resource=AnyProto(type_url=type_url, value=m.SerializeToString()),
        )
        for m in messages
    ]
    resources += [Resource(name=name, version="gone") for name in bodiless]
    return DeltaDiscoveryResponse(
        type_url=type_url,
        nonce=str(next(_nonces)),
        system_version_info="v",
        resources=resources,
        removed_resources=list(removed),
    )


def serving_sotw_pair() -> Pair:
    """A SotW client running listener ``http`` on routes ``r1`` to cluster ``a``."""
    pair = Pair("sotw")
    pair.connect()
    pair.deliver(sotw(CDS, "1", samples.eds_cluster("a")))
    pair.deliver(sotw(EDS, "1", samples.load_assignment("a", [ENDPOINT])))
    pair.deliver(sotw(LDS, "1", samples.listener("http", "r1", "127.0.20.1", 10000)))
    pair.deliver(sotw(RDS, "1", samples.route_config("r1", "a")))
    assert pair.config.is_complete and set(pair.config.listeners) == {"http"}
    return pair


def acks(requests: list[Any], type_url: str) -> list[Any]:
    return [r for r in requests if r.type_url == type_url and r.response_nonce]


def test_changed_listener_keeps_serving_until_its_new_routes_arrive() -> None:
    pair = serving_sotw_pair()
    requests = pair.deliver(sotw(LDS, "2", samples.listener("http", "r2", "127.0.20.1", 10000)))
    assert pair.client.subscriptions[RDS].names == {"r1", "r2"}
    assert [list(r.resource_names) for r in requests if r.type_url == RDS] == [["r1", "r2"]]
    assert set(pair.config.listeners) == {"http"}
    assert pair.config.listeners["http"].filter_chains[0].http.route_config == "r1"
    [listener] = config_dump(pair.client)["configs"][1]["dynamic_listeners"]
    assert listener["active_state"]["version_info"] == "1"
    assert listener["warming_state"]["version_info"] == "2"
    pair.deliver(sotw(RDS, "2", samples.route_config("r2", "a")))
    assert pair.config.listeners["http"].filter_chains[0].http.route_config == "r2"
    assert pair.client.subscriptions[RDS].names == {"r2"}
    assert pair.proto_names(RDS) == {"r2"}
    [listener] = config_dump(pair.client)["configs"][1]["dynamic_listeners"]
    assert "warming_state" not in listener


def test_new_listener_without_routes_is_warming_and_not_initialized() -> None:
    pair = Pair("sotw")
    pair.connect()
    pair.deliver(sotw(CDS, "1"))
    pair.deliver(sotw(LDS, "1", samples.listener("http", "r1", "127.0.20.1", 10000)))
    assert pair.config.warming_listeners == ("http",)
    assert not pair.config.listeners and not pair.client.status.initialized
    pair.deliver(sotw(RDS, "1", samples.route_config("r1", "a")))
    assert set(pair.config.listeners) == {"http"} and pair.client.status.initialized


def test_new_cluster_holds_the_cds_ack_until_its_endpoints_arrive() -> None:
    pair = serving_sotw_pair()
    requests = pair.deliver(sotw(CDS, "2", samples.eds_cluster("a"), samples.eds_cluster("b")))
    assert not acks(requests, CDS), "the CDS ACK waits for cluster b to warm"
    assert [list(r.resource_names) for r in requests] == [["a", "b"]]
    assert pair.config.warming_clusters == ("b",)
    requests = pair.deliver(sotw(EDS, "2", samples.load_assignment("b", [ENDPOINT])))
    assert [r.type_url for r in requests] == [EDS, CDS]
    assert acks(requests, CDS)[0].version_info == "2"
    assert pair.config.is_complete


def test_held_cds_ack_goes_out_at_the_warming_timeout() -> None:
    pair = serving_sotw_pair()
    pair.deliver(sotw(CDS, "2", samples.eds_cluster("a"), samples.eds_cluster("b")))
    deadline = pair.client.next_deadline()
    assert deadline is not None
    pair.clock.now = deadline - 0.001
    assert pair.client.expire() == []
    pair.clock.now = deadline
    [ack] = pair.client.expire()
    assert ack.type_url == CDS and ack.version_info == "2" and not ack.HasField("error_detail")
    assert pair.client.next_deadline() is None


def test_new_listener_version_that_cannot_run_is_nacked_while_the_old_one_serves() -> None:
    pair = serving_sotw_pair()
    broken = samples.listener("http", "r2", "127.0.20.1", 10000)
    broken.transparent.value = True
    [nack] = pair.deliver(sotw(LDS, "2", broken))
    assert "transparent" in nack.error_detail.message and nack.version_info == "1"
    assert pair.client.subscriptions[RDS].names == {"r1"}


def test_sotw_eds_response_may_omit_unchanged_names() -> None:
    pair = serving_sotw_pair()
    pair.deliver(sotw(CDS, "2", samples.eds_cluster("a"), samples.eds_cluster("b")))
    pair.deliver(sotw(EDS, "2", samples.load_assignment("b", [ENDPOINT])))
    pair.deliver(sotw(EDS, "3", samples.load_assignment("b", [("127.0.20.9", 9090)])))
    assert pair.proto_names(EDS) == {"a", "b"}
    assert pair.config.clusters["a"].endpoints[0].port == 8080
    assert pair.config.clusters["b"].endpoints[0].port == 9090


def test_delta_removals_and_bodiless_resources_remove() -> None:
    pair = Pair("delta")
    pair.connect()
    pair.deliver(delta(CDS, samples.eds_cluster("a"), samples.eds_cluster("b")))
    pair.deliver(delta(EDS, *(samples.load_assignment(n, [ENDPOINT]) for n in "ab")))
    listeners = [samples.listener(n, "r1", "127.0.20.1", 10000 + i) for i, n in enumerate("xy")]
    pair.deliver(delta(LDS, *listeners))
    pair.deliver(delta(RDS, samples.route_config("r1", "a")))
    assert set(pair.config.listeners) == {"x", "y"}
    pair.deliver(delta(LDS, removed=("x",)))
    pair.deliver(delta(CDS, bodiless=("b",)))
    assert set(pair.config.listeners) == {"y"}
    assert set(pair.config.clusters) == {"a"} and pair.proto_names(EDS) == {"a"}
    assert pair.client.subscriptions[EDS].names == {"a"}


def test_undecodable_and_duplicate_resources_are_nacked() -> None:
    pair = serving_sotw_pair()
    garbage = DiscoveryResponse(
        type_url=CDS, version_info="2", nonce="g", resources=[AnyProto(type_url=CDS, value=b"\xff")]
    )
    [nack] = pair.deliver(garbage)
    assert "cannot decode" in nack.error_detail.message
    twice = sotw(CDS, "3", samples.eds_cluster("a"), samples.eds_cluster("a"))
    [nack] = pair.deliver(twice)
    assert "twice" in nack.error_detail.message
    assert set(pair.config.clusters) == {"a"} and pair.client.status.of(CDS).nacks == 2
