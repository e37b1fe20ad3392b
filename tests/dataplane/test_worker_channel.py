"""The parent-to-worker config frames (dataplane.workers.channel): a whole config, then only
what each update changed, applied to what the worker holds, give the worker exactly the
resources of the update; a changed route configuration travels as a patch of the version the
worker holds, a small fraction of its size; a changes frame that does not build on what the
worker holds is refused. Leaves the processes and sockets to test_workers.py."""

from __future__ import annotations

from typing import Any

import pytest

from dataplane.workers.channel import (
    ChangesOutOfStep,
    Held,
    decode_config,
    encode_changes,
    encode_config,
)
from dataplane.xdsclient.resource_types import (
    CLUSTER,
    CLUSTER_LOAD_ASSIGNMENT,
    LISTENER,
    ROUTE_CONFIGURATION,
    SECRET,
)
from dataplane.xdsclient.store import StoredResource
from tests.dataplane import resources as r

Resources = dict[str, dict[str, StoredResource]]


def _stored(messages: dict[str, dict[str, Any]], version: str) -> Resources:
    return {
        type_url: {
            name: StoredResource(name, m, m.SerializeToString(deterministic=True), version, 0.0)
            for name, m in named.items()
        }
        for type_url, named in messages.items()
    }


def _routes(count: int, extra: str | None = None) -> Any:
    hosts = [r.vhost(f"h{i}", [f"h{i}.example"], r.to_cluster("web")) for i in range(count)]
    if extra is not None:
        hosts.insert(count // 2, r.vhost(extra, [f"{extra}.example"], r.to_cluster("web")))
    return r.route_config("rc", *hosts)


def _messages(routes: Any, clusters: tuple[str, ...] = ("web",)) -> dict[str, dict[str, Any]]:
    return {
        LISTENER: {"l": r.listener("l", "127.0.0.1", 8080, "rc")},
        ROUTE_CONFIGURATION: {"rc": routes},
        CLUSTER: {name: r.cluster(name) for name in clusters},
        CLUSTER_LOAD_ASSIGNMENT: {},
        SECRET: {},
    }


def _received(frame: bytes, held: Held | None) -> tuple[Held, int]:
    shipped = decode_config(frame[5:])  # past the frame header
    held, _ = shipped.apply(held)
    return held, shipped.sequence


def _as_sent(resources: Resources) -> dict[str, dict[str, bytes]]:
    return {t: {n: res.serialized for n, res in named.items()} for t, named in resources.items()}


def _as_held(held: Held) -> dict[str, dict[str, bytes]]:
    return {
        t: {
            n: m if isinstance(m, bytes) else m.SerializeToString(deterministic=True)
            for n, m in named.items()
        }
        for t, named in held.items()
    }


def test_changes_bring_the_worker_to_each_update() -> None:
    first = _stored(_messages(_routes(200)), "1")
    held, sequence = _received(encode_config(1, "1", first), None)
    assert sequence == 1 and _as_held(held) == _as_sent(first)

    second = _stored(_messages(_routes(200, extra="new"), ("web", "api")), "2")
    second[LISTENER] = first[LISTENER]  # unchanged: the very same resource
    frame = encode_changes(2, "2", second, first)
    assert len(frame) < len(second[ROUTE_CONFIGURATION]["rc"].serialized) // 10
    held, _ = _received(frame, held)
    assert _as_held(held) == _as_sent(second)

    third = _stored(_messages(_routes(10)), "3")
    held, _ = _received(encode_changes(3, "3", third, second), held)
    assert _as_held(held) == _as_sent(third)
    assert set(held[CLUSTER]) == {"web"}


def test_changes_that_build_on_nothing_held_are_refused() -> None:
    first = _stored(_messages(_routes(3)), "1")
    second = _stored(_messages(_routes(3, extra="x")), "2")
    changes = encode_changes(2, "2", second, first)
    with pytest.raises(ChangesOutOfStep):
        _received(changes, None)
    held, _ = _received(encode_config(1, "1", {**first, ROUTE_CONFIGURATION: {}}), None)
    with pytest.raises(ChangesOutOfStep):
        _received(changes, held)
