"""CEL's ``backend`` and ``extauthz`` on the agw proxy, and what the expressions that run once a
request is over (access-log fields, metric labels) see of it.

Covers ``backend`` from a cluster's ``agw`` origin metadata (one Service, the merged Services of
a session-persistence cluster, a cluster without the note); access-log fields reading
``basicAuth``, ``backend`` and ``response`` through a real proxy (a request that matched no
route has no ``backend``: the field is left out); ``extauthz`` from a real gRPC authorization
service's OK answer in a transformation header and an access-log field, and a metric label
reading it; an IPv4 client of a dual-stack listener is its IPv4 address to CEL. Leaves out
span attributes (they evaluate through the same ``finished_request``:
test_tracing.py) and Envoy (e2e/test_agw_policy_variables.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from envoy.config.cluster.v3 import cluster_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)

from agwproto.agw.filters.v1alpha1 import metrics_pb2, transformation_pb2
from cel import Activation, compile_expression
from dataplane.cel.facts import ConnectionEnd
from dataplane.config import compile_config
from dataplane.config.cluster import BackendIdentity, backend_identity
from dataplane.config.request_metrics import REQUEST_METRICS_FILTER
from dataplane.proxy import Proxy
from e2e.authz import GOOD_TOKEN, GRPC_METADATA, GrpcAuthz
from tests.dataplane import resources as r
from tests.dataplane.client import fetch, request_bytes
from tests.dataplane.conftest import Backends
from tests.dataplane.test_extauth import grpc_filter, resources
from tests.dataplane.test_policy_auth import TRANSFORMATION, basic_listener, basic_routes
from tests.dataplane.test_policy_auth import credentials as basic_credentials
from tests.dataplane.test_policy_conn import stdout_access_log

AUTH_HOST = "127.0.20.8"
ORIGIN = "Service/apps/web:8080"


def noted(cluster: cluster_pb2.Cluster, origin: str) -> cluster_pb2.Cluster:
    """``cluster`` with the origin note agw's translator writes."""
    cluster.metadata.filter_metadata["agw"].update({"origin": origin})
    return cluster


@pytest.mark.parametrize(
    ("origin", "expected"),
    [
        (ORIGIN, BackendIdentity("service/apps/web:8080", "service")),
        (
            "Service/apps/a:80 + Service/apps/b:80",
            BackendIdentity("service/apps/a:80 + service/apps/b:80", "service"),
        ),
        (None, BackendIdentity("web", "unknown")),
    ],
)
def test_backend_identity_from_the_origin_note(
    origin: str | None, expected: BackendIdentity
) -> None:
    cluster = r.cluster("web")
    identity = backend_identity(noted(cluster, origin) if origin else cluster)
    assert identity == expected and identity.protocol == "http"


def with_manager(listener: Any, change: Any) -> Any:
    """``listener`` with ``change`` applied to its connection manager."""
    manager = hcm_pb2.HttpConnectionManager()
    listener.filter_chains[0].filters[0].typed_config.Unpack(manager)
    change(manager)
    listener.filter_chains[0].filters[0].typed_config.Pack(manager)
    return listener


def logged(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if "{" in line]
    return [{k: v for k, v in line.items() if k != "event"} for line in lines]


async def test_access_log_fields_see_the_user_and_the_backend(
    proxy: Proxy, backends: Backends, capsys: pytest.CaptureFixture[str]
) -> None:
    web = await backends("web")
    fields = {
        "code": "%RESPONSE_CODE%",
        "user": "%CEL(basicAuth.username)%",
        "backend": "%CEL(backend.name + ' ' + backend.type)%",
    }
    listener = with_manager(
        basic_listener(), lambda m: m.access_log.append(stdout_access_log(fields))
    )
    routes = basic_routes()
    # A host without routes: nothing is picked, so there is no backend.
    routes.virtual_hosts.add(name="empty", domains=["nowhere.example"])
    routes.virtual_hosts.sort(key=lambda host: host.name != "empty")
    config = r.compiled(
        [listener],
        [routes],
        {"web": [(web.host, web.port)]},
        cluster_protos=[noted(r.cluster("web"), ORIGIN)],
    )
    await proxy.apply(config)
    address = proxy.address_of("l")
    assert address is not None
    alice = basic_credentials("alice", "alice-pw")
    assert (await fetch(*address, request_bytes("GET", "/api/x", headers=alice))).status == 200
    assert (await fetch(*address, request_bytes("GET", "/else"))).status == 200
    unrouted = request_bytes("GET", "/", host="nowhere.example")
    assert (await fetch(*address, unrouted)).status == 404
    assert logged(capsys) == [
        {"code": 200, "user": "alice", "backend": "service/apps/web:8080 service"},
        {"code": 200, "backend": "service/apps/web:8080 service"},
        {"code": 404},
    ]


@pytest.fixture(scope="module")
def grpc_authz() -> Iterator[GrpcAuthz]:
    with GrpcAuthz(f"{AUTH_HOST}:0") as service:
        yield service


def add_extauthz_readers(manager: Any) -> None:
    """The transformation filter after ext_authz, an access log and a metric label, each
    reading ``extauthz``."""
    router = manager.http_filters.pop()
    manager.http_filters.add(name=TRANSFORMATION).typed_config.Pack(
        transformation_pb2.Transformation()
    )
    label = metrics_pb2.RequestMetricLabel(name="user", expression="extauthz.user")
    manager.http_filters.add(name=REQUEST_METRICS_FILTER).typed_config.Pack(
        metrics_pb2.RequestMetrics(labels=[label])
    )
    manager.http_filters.append(router)
    manager.access_log.append(stdout_access_log({"groups": "%CEL(extauthz.groups.join('+'))%"}))


async def test_extauthz_is_the_allowing_answers_metadata(
    proxy: Proxy, backends: Backends, grpc_authz: GrpcAuthz, capsys: pytest.CaptureFixture[str]
) -> None:
    web = await backends("web")
    config = resources(grpc_filter(), web, (AUTH_HOST, grpc_authz.port))
    with_manager(config.listeners["l"], add_extauthz_readers)
    protected = config.route_configs["rc"].virtual_hosts[0].routes[0]
    header = transformation_pb2.HeaderExpression(name="x-user", expression="extauthz.user")
    protected.typed_per_filter_config[TRANSFORMATION].Pack(
        transformation_pb2.TransformationPerRoute(
            request=transformation_pb2.Transform(set=[header])
        )
    )
    await proxy.apply(compile_config(config, "1"))
    address = proxy.address_of("l")
    assert address is not None
    good = request_bytes("GET", "/private", headers={"authorization": GOOD_TOKEN})
    assert (await fetch(*address, good)).status == 200
    assert (await fetch(*address, request_bytes("GET", "/private"))).status == 403
    assert web.received[-1].header("x-user") == GRPC_METADATA["user"]
    assert logged(capsys) == [{"groups": "dev+ops"}, {}]
    labelled = proxy.stats.labelled_requests
    assert labelled == {("http", (("user", "alice"),)): 1, ("http", (("user", ""),)): 1}


class _MappedClient:
    """A dual-stack listener's view of an IPv4 client."""

    transport = None
    peer = b"::ffff:192.0.2.7"
    peer_port = 4242


def test_an_ipv4_mapped_client_is_its_ipv4_address_to_cel() -> None:
    source = ConnectionEnd(_MappedClient(), local=False)
    assert (source.address, source.port) == ("192.0.2.7", 4242)
    program = compile_expression('cidr("192.0.2.0/24").containsIP(source.address)')
    assert program.evaluate(Activation(source=source)) is True
