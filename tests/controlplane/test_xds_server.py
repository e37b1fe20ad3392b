"""The grpc.aio ADS server on loopback, driven by a scripted gRPC client in both flavours.

Covers: the node naming its gateway, pure ACKs answered by nothing (proved by the next
response on the ordered stream), INVALID_ARGUMENT for a missing node id or type URL, a stream
for an unknown gateway waiting until a snapshot appears, removals reaching delta clients,
the sync status and metrics while connected and after disconnects. Protocol details are in
the sotw/delta tests; real Envoy is in test_xds_envoy.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from envoy.config.core.v3.base_pb2 import Node
from envoy.service.discovery.v3.ads_pb2_grpc import AggregatedDiscoveryServiceStub
from envoy.service.discovery.v3.discovery_pb2 import (
    DeltaDiscoveryRequest,
    DiscoveryRequest,
)
from google.protobuf.struct_pb2 import Struct, Value

from tests.controlplane import xds_samples as samples
from tests.controlplane.xds_control_plane import GATEWAY, ControlPlane, running_control_plane
from tests.controlplane.xds_fake_proxy import names_of
from tests.controlplane.xds_samples import CDS, LDS
from tests.envoy_harness import wait_for

READ_TIMEOUT = 5.0


def _node(gateway: str = GATEWAY, node_id: str = "scripted") -> Node:
    return Node(id=node_id, metadata=Struct(fields={"gateway": Value(string_value=gateway)}))


def _snapshot(version: str, listeners: tuple[str, ...] = ("l1",)) -> Any:
    return samples.snapshot(
        version,
        listeners=[samples.listener(name, "r1") for name in listeners],
        clusters=[samples.eds_cluster("c1")],
    )


@pytest.fixture
async def plane() -> AsyncIterator[ControlPlane]:
    async with running_control_plane() as plane:
        yield plane


@pytest.fixture
async def stub(plane: ControlPlane) -> AsyncIterator[AggregatedDiscoveryServiceStub]:
    async with grpc.aio.insecure_channel(plane.address) as channel:
        yield AggregatedDiscoveryServiceStub(channel)


async def _read(call: Any) -> Any:
    async with asyncio.timeout(READ_TIMEOUT):
        return await call.read()


async def test_sotw_ack_gets_nothing_and_the_stream_stays_ordered(
    plane: ControlPlane, stub: AggregatedDiscoveryServiceStub
) -> None:
    plane.publish(_snapshot("v1"))
    call = stub.StreamAggregatedResources()
    await call.write(DiscoveryRequest(node=_node(), type_url=CDS))
    cds = await _read(call)
    assert names_of(cds) == ["c1"]
    await call.write(
        DiscoveryRequest(type_url=CDS, response_nonce=cds.nonce, version_info=cds.version_info)
    )
    await call.write(DiscoveryRequest(type_url=LDS))
    # Had the ACK been answered, that answer would come first.
    lds = await _read(call)
    assert lds.type_url == LDS and int(lds.nonce) > int(cds.nonce)
    [proxy] = plane.proxies()
    assert (proxy.node_id, proxy.flavour) == ("scripted", "sotw")
    assert proxy.types[CDS].version_acked == cds.version_info
    call.cancel()
    await wait_for(lambda: not plane.proxies(), timeout=5, message="stream cleaned up")
    assert plane.metrics.connected_proxies == 0 and plane.cache.watch_count() == 0


async def test_delta_ack_gets_nothing_and_removals_arrive(
    plane: ControlPlane, stub: AggregatedDiscoveryServiceStub
) -> None:
    plane.publish(_snapshot("v1", ("l1", "l2")))
    call = stub.DeltaAggregatedResources()
    await call.write(DeltaDiscoveryRequest(node=_node(), type_url=LDS))
    lds = await _read(call)
    assert names_of(lds) == ["l1", "l2"] and lds.system_version_info == "v1"
    await call.write(DeltaDiscoveryRequest(type_url=LDS, response_nonce=lds.nonce))
    plane.publish(_snapshot("v2", ("l1",)))
    removal = await _read(call)
    assert names_of(removal) == [] and list(removal.removed_resources) == ["l2"]
    [proxy] = plane.proxies()
    assert proxy.flavour == "delta"
    await call.done_writing()
    await wait_for(lambda: not plane.proxies(), timeout=5, message="stream cleaned up")


@pytest.mark.parametrize("delta", [False, True])
async def test_missing_node_id_is_invalid_argument(
    stub: AggregatedDiscoveryServiceStub, delta: bool
) -> None:
    if delta:
        call: Any = stub.DeltaAggregatedResources()
        await call.write(DeltaDiscoveryRequest(type_url=CDS))
    else:
        call = stub.StreamAggregatedResources()
        await call.write(DiscoveryRequest(type_url=CDS))
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await _read(call)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "node.id" in (raised.value.details() or "")


async def test_missing_type_url_is_invalid_argument(
    plane: ControlPlane, stub: AggregatedDiscoveryServiceStub
) -> None:
    call = stub.StreamAggregatedResources()
    await call.write(DiscoveryRequest(node=_node()))
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await _read(call)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    await wait_for(lambda: not plane.proxies(), timeout=5, message="stream cleaned up")


@pytest.mark.parametrize("delta", [False, True])
async def test_unknown_gateway_waits_for_its_first_snapshot(
    plane: ControlPlane, stub: AggregatedDiscoveryServiceStub, delta: bool
) -> None:
    node = _node("ns/later")
    if delta:
        call: Any = stub.DeltaAggregatedResources()
        await call.write(DeltaDiscoveryRequest(node=node, type_url=CDS))
    else:
        call = stub.StreamAggregatedResources()
        await call.write(DiscoveryRequest(node=node, type_url=CDS))
    await wait_for(lambda: bool(plane.proxies("ns/later")), timeout=5, message="registered")
    plane.publish(_snapshot("v1"), gateway="ns/other")
    plane.publish(_snapshot("v1"), gateway="ns/later")
    response = await _read(call)
    assert response.type_url == CDS and names_of(response) == ["c1"]
    call.cancel()


async def test_many_clients_of_both_flavours_get_each_publish(
    plane: ControlPlane, stub: AggregatedDiscoveryServiceStub
) -> None:
    plane.publish(_snapshot("v1"))
    calls: list[Any] = []
    for index in range(20):
        node = _node(node_id=f"client-{index}")
        if index % 2:
            call: Any = stub.DeltaAggregatedResources()
            await call.write(DeltaDiscoveryRequest(node=node, type_url=LDS))
        else:
            call = stub.StreamAggregatedResources()
            await call.write(DiscoveryRequest(node=node, type_url=LDS))
        calls.append(call)
    firsts = [await _read(call) for call in calls]
    for index, (call, first) in enumerate(zip(calls, firsts, strict=True)):
        if index % 2:
            await call.write(DeltaDiscoveryRequest(type_url=LDS, response_nonce=first.nonce))
        else:
            await call.write(
                DiscoveryRequest(
                    type_url=LDS, response_nonce=first.nonce, version_info=first.version_info
                )
            )
    plane.publish(_snapshot("v2", ("l1", "l9")))
    for call in calls:
        assert "l9" in names_of(await _read(call))
    assert plane.metrics.connected_proxies == 20
    for call in calls:
        call.cancel()
    await wait_for(lambda: not plane.proxies(), timeout=5, message="all streams cleaned up")
