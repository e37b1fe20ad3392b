"""Lease leader election against the emulated API server: one leader among replicas; a
clean stop releases the lease and the next replica leads within one retry period; a leader
that dies (no release) is replaced once the lease expires, not before; transitions are
counted in the Lease. Status writing under leadership is covered by test_controlplane_kube."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator

from controlplane.leader import LEASES, LeaderElector, LeaseConfig
from controlplane.sources.kube import KubeApi
from tests.envoy_harness import wait_for
from tests.kube.apiserver import ApiServer

LEASE_SECONDS = 1.0
RETRY_SECONDS = 0.05


def lease_config(identity: str) -> LeaseConfig:
    return LeaseConfig(
        namespace="agw-system",
        name="agw",
        identity=identity,
        lease_duration=LEASE_SECONDS,
        renew_deadline=0.8,
        retry_period=RETRY_SECONDS,
    )


@contextlib.asynccontextmanager
async def elector(api: KubeApi, identity: str) -> AsyncIterator[LeaderElector]:
    candidate = LeaderElector(api, lease_config(identity))
    candidate.start()
    try:
        yield candidate
    finally:
        await candidate.stop()


async def holder(api: KubeApi) -> str:
    lease = await api.get(LEASES.path("agw-system", "agw"), "get", LEASES.name)
    return str(lease["spec"].get("holderIdentity") or "")


async def test_one_replica_leads(apiserver: ApiServer, kube_api: KubeApi) -> None:
    async with elector(kube_api, "a") as first:
        await wait_for(lambda: first.is_leader, timeout=5)
        async with elector(kube_api, "b") as second:
            gets = len(apiserver.requests_with("get", "leases.coordination.k8s.io"))
            # The second replica has looked at the lease several times and stays a follower.
            await wait_for(
                lambda: (
                    len(apiserver.requests_with("get", "leases.coordination.k8s.io")) > gets + 10
                ),
                timeout=5,
            )
            assert first.is_leader and not second.is_leader
            assert await holder(kube_api) == "a"


async def test_a_clean_stop_hands_over_within_a_retry_period(kube_api: KubeApi) -> None:
    changes: list[bool] = []
    async with elector(kube_api, "b") as second:
        first = LeaderElector(kube_api, lease_config("a"))
        first.start()
        await wait_for(lambda: first.is_leader or second.is_leader, timeout=5)
        leader, follower = (first, second) if first.is_leader else (second, first)

        async def record(leading: bool) -> None:
            changes.append(leading)

        leader.on_change.append(record)
        await leader.stop()
        stopped = time.monotonic()
        await wait_for(lambda: follower.is_leader, timeout=5)
        assert time.monotonic() - stopped < LEASE_SECONDS / 2
        assert changes == [False]
        assert await holder(kube_api) == follower.config.identity
        await first.stop()


async def test_a_dead_leader_is_replaced_when_the_lease_expires(kube_api: KubeApi) -> None:
    first = LeaderElector(kube_api, lease_config("a"))
    first.start()
    await wait_for(lambda: first.is_leader, timeout=5)
    async with elector(kube_api, "b") as second:
        await first.stop(release=False)  # crashed: the lease stays held until it expires
        died = time.monotonic()
        await wait_for(lambda: second.is_leader, timeout=5)
        elapsed = time.monotonic() - died
        # Not right away as after a release (it waits out the lease, measured from the last
        # renewal it saw); the bounds leave room for a loaded machine.
        assert LEASE_SECONDS / 2 <= elapsed <= 2 * LEASE_SECONDS, elapsed
        lease = await kube_api.get(LEASES.path("agw-system", "agw"), "get", LEASES.name)
        assert lease["spec"]["leaseTransitions"] >= 1
        assert lease["spec"]["holderIdentity"] == "b"
