"""What the agw proxy enforces of AgentgatewayPolicy beyond Envoy's config: authentication
options (agw's ``AuthOptionsPerRoute`` beside basic_auth's and api_key_auth's per-route
settings) and CEL retry conditions (agw's ``RetryConditions`` among a RetryPolicy's
``retry_options_predicates``).

Covers basic authentication in Optional mode (no credentials, or another scheme, pass; wrong
ones answer 401), the realm's ``WWW-Authenticate`` challenge (quoted) on Strict and Optional
refusals and its absence without a realm, the NACK for an unprintable realm; API keys in
Optional mode (no key passes, an unknown one answers 401) and a key's metadata as
``apiKey.metadata`` in CEL; retry preconditions (false, or not compiling: no retry) and
conditions over the response (true retries a status the policy does not list), the NACK for
other retry predicates. Leaves out the translator's side (goldens agwpolicy-last-*) and
Envoy (e2e/test_agw_policy_last.py).
"""

from __future__ import annotations

from typing import Any

import pytest

from agwproto.agw.filters.v1alpha1 import auth_options_pb2, retry_pb2, transformation_pb2
from dataplane.config import XdsResources, compile_config
from dataplane.errors import ConfigRejected
from dataplane.proxy import Proxy
from tests.dataplane import resources as r
from tests.dataplane.client import Response, fetch, request_bytes
from tests.dataplane.conftest import Backends, Serve, serve_web
from tests.dataplane.test_policy_auth import (
    TRANSFORMATION,
    api_key_config,
    basic_listener,
    basic_routes,
    credentials,
)

OPTIONS = "agw.filters.http.auth_options"
Options = auth_options_pb2.AuthOptionsPerRoute


def with_options(config: Any, options: Any) -> Any:
    config.virtual_hosts[0].routes[0].typed_per_filter_config[OPTIONS].Pack(options)
    return config


async def serve(proxy: Proxy, backends: Backends, listener: Any, config: Any) -> tuple[Any, Any]:
    web = await backends("web")
    address = await serve_web(proxy, web, listener, config)
    return address, web


async def get(address: Any, headers: dict[str, str]) -> Response:
    return await fetch(*address, request_bytes("GET", "/api/x", headers=headers))


async def test_optional_basic_authentication_with_a_realm(proxy: Proxy, backends: Backends) -> None:
    options = Options(basic_auth_optional=True, basic_auth_realm='staff "only"')
    address, web = await serve(
        proxy, backends, basic_listener(), with_options(basic_routes(), options)
    )
    anonymous = await get(address, {})
    assert anonymous.status == 200
    assert (await get(address, {"authorization": "Bearer xyz"})).status == 200
    refused = await get(address, credentials("alice", "wrong"))
    assert refused.status == 401
    assert refused.header("www-authenticate") == 'Basic realm="staff \\"only\\""'
    assert (await get(address, credentials("alice", "alice-pw"))).status == 200
    assert [m.header("x-user") for m in web.received] == [None, None, "alice"]


@pytest.mark.parametrize(
    ("realm", "challenge"), [("internal", 'Basic realm="internal"'), ("", None)]
)
async def test_strict_refusals_carry_the_realm(
    proxy: Proxy, backends: Backends, realm: str, challenge: str | None
) -> None:
    config = with_options(basic_routes(), Options(basic_auth_realm=realm))
    address, _ = await serve(proxy, backends, basic_listener(), config)
    refused = await get(address, {})
    assert refused.status == 401
    assert refused.header("www-authenticate") == challenge


def test_an_unprintable_realm_is_rejected() -> None:
    config = with_options(basic_routes(), Options(basic_auth_realm="a\nb"))
    with pytest.raises(ConfigRejected, match="basic_auth_realm"):
        compile_config(
            XdsResources(listeners={"l": basic_listener()}, route_configs={"rc": config})
        )


@pytest.mark.parametrize(
    ("headers", "status", "seen"),
    [
        ({}, 200, [(None, None)]),
        ({"authorization": "Bearer nope"}, 401, []),
        ({"authorization": "Bearer k1"}, 200, [("keys/deploy", "ops")]),
        ({"authorization": "Bearer k3"}, 200, [("keys/ci", None)]),
    ],
)
async def test_optional_api_keys_and_their_metadata_in_cel(
    proxy: Proxy,
    backends: Backends,
    headers: dict[str, str],
    status: int,
    seen: list[tuple[str | None, str | None]],
) -> None:
    listener, config = api_key_config([("k1", "keys/deploy"), ("k3", "keys/ci")])
    guarded = config.virtual_hosts[0].routes[0]
    del guarded.typed_per_filter_config["agw.filters.http.authorization"]
    options = Options(api_key_optional=True)
    options.api_key_metadata["keys/deploy"].update({"team": "ops", "tier": 2})
    with_options(config, options)
    transform = transformation_pb2.TransformationPerRoute(
        request=transformation_pb2.Transform(
            set=[
                transformation_pb2.HeaderExpression(name="x-client", expression="apiKey.client"),
                transformation_pb2.HeaderExpression(
                    name="x-team", expression="apiKey.metadata.team"
                ),
            ]
        )
    )
    guarded.typed_per_filter_config[TRANSFORMATION].Pack(transform)
    address, web = await serve(proxy, backends, listener, config)
    response = await get(address, headers)
    assert response.status == status
    assert [(m.header("x-client"), m.header("x-team")) for m in web.received] == seen


def retrying(precondition: str = "", condition: str = "", codes: tuple[int, ...] = ()) -> Any:
    route = r.to_cluster("flaky")
    policy = route.route.retry_policy
    policy.retry_on = "retriable-status-codes" if codes else "connect-failure"
    policy.retriable_status_codes.extend(codes)
    policy.num_retries.value = 2
    policy.retry_back_off.base_interval.FromMilliseconds(5)
    conditions = retry_pb2.RetryConditions(precondition=precondition, condition=condition)
    policy.retry_options_predicates.add(name="agw.retry.conditions").typed_config.Pack(conditions)
    return route


@pytest.mark.parametrize(
    ("route", "method", "status", "attempts"),
    [
        # The condition retries a response the statuses do not list.
        (retrying(condition="response.code == 503"), "GET", 200, 3),
        (retrying(condition="response.code == 500"), "GET", 503, 1),
        (retrying(condition="response.headers['absent'] == 'x'"), "GET", 503, 1),
        # The precondition decides whether the request is retried at all.
        (retrying(precondition="request.method == 'GET'", codes=(503,)), "GET", 200, 3),
        (retrying(precondition="request.method == 'GET'", codes=(503,)), "POST", 503, 1),
        (retrying(precondition="request.method ==", codes=(503,)), "GET", 503, 1),
        (
            retrying(precondition="request.method == 'POST'", condition="response.code == 503"),
            "POST",
            200,
            3,
        ),
    ],
)
async def test_retry_conditions(
    serve: Serve, backends: Backends, route: Any, method: str, status: int, attempts: int
) -> None:
    flaky = await backends("flaky")
    flaky.fail_first = 2
    host, port = await serve(route, clusters={"flaky": [flaky]})
    response = await fetch(host, port, request_bytes(method, "/"))
    assert response.status == status
    assert len(flaky.received) == attempts


def test_unknown_retry_predicates_are_rejected() -> None:
    route = r.to_cluster("web")
    predicate = route.route.retry_policy.retry_options_predicates.add(name="other")
    predicate.typed_config.Pack(auth_options_pb2.AuthOptionsPerRoute())
    config = r.route_config("rc", r.vhost("v", ["*"], route))
    listener = r.listener("l", "127.0.0.1", 0, "rc")
    with pytest.raises(ConfigRejected, match="retry_options_predicates"):
        compile_config(XdsResources(listeners={"l": listener}, route_configs={"rc": config}))
