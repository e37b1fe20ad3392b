"""Basic authentication on the agw proxy with passwords hashed in threads (``dataplane.htpasswd``'s
pool, ``extauth``'s hold): the request waits, the event loop does not.

Covers another route answering while the pool hashes wrong passwords (ordering, not timing);
the in-flight bound (a further new password answered 503 at once, remembered right and wrong
passwords still answered inline); a right password held then forwarded with its body (larger
than the connection's buffer limit, over HTTP/1.1 and HTTP/2); authorization CEL seeing
``basicAuth`` after a threaded check, the realm on a threaded 401; ext_authz asked after a
threaded check (with the body it wants) and not after a wrong password; clients that leave
mid-check (waiting checks dropped unstarted, running ones finishing with their answer
discarded, no loop errors).

Leaves out the hashes themselves (test_htpasswd.py) and the loop's stall in numbers (measured
for the report; a test on timings would be flaky). bcrypt cost 12 (about a third of a second
here) is used where checks must still be running while the test acts; cost 4 and 8 elsewhere.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Iterator
from typing import Any

import bcrypt
import httpx
import pytest
from envoy.config.core.v3.base_pb2 import DataSource
from envoy.extensions.filters.http.basic_auth.v3 import basic_auth_pb2

from agwproto.agw.filters.v1alpha1 import auth_options_pb2
from dataplane import htpasswd
from dataplane.config import XdsResources, compile_config
from dataplane.htpasswd import CHECKS, MAX_CHECKING, parse_hash
from dataplane.policy_auth import BASIC_DENIED_BODY, BUSY_BODY
from dataplane.proxy import Proxy
from e2e.authz import GRPC_DENIED_BODY, GrpcAuthz
from tests.dataplane import resources as r
from tests.dataplane.backend import EchoBackend
from tests.dataplane.client import Connection, Response, fetch, request_bytes
from tests.dataplane.conftest import Backends, serve_web
from tests.dataplane.test_extauth import grpc_filter, resources
from tests.dataplane.test_policy_auth import BASIC, basic_listener, basic_routes

# bcrypt cost 12 of "slow-pw": long enough that checks are still running while a test acts.
SLOW = "$2b$12$AzXIFXUKi5QbY4ADFbS3SO8NEqfwHd/xoGFmizTtJvnayESvA2Mc2"
PASSWORDS = {"alice": "alice-pw", "bob": "bob-pw", "carol": "carol-pw"}
FAST = {
    user: bcrypt.hashpw(pw.encode(), bcrypt.gensalt(4)).decode() for user, pw in PASSWORDS.items()
}
AUTH_HOST = "127.0.20.7"
OPTIONS = "agw.filters.http.auth_options"


@pytest.fixture(autouse=True)
async def idle_pool() -> AsyncIterator[None]:
    """Checks another test left running would count against the bound."""
    await until_in_flight(0, timeout=30)
    yield


@pytest.fixture(scope="module")
def grpc_authz() -> Iterator[GrpcAuthz]:
    with GrpcAuthz(f"{AUTH_HOST}:0") as service:
        yield service


async def until_in_flight(count: int, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while CHECKS.in_flight != count:
            await asyncio.sleep(0.001)


def credentials(user: str, password: str) -> dict[str, str]:
    return {"authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def get(user: str, password: str, path: str = "/api/x") -> bytes:
    return request_bytes("GET", path, headers=credentials(user, password))


def with_users(config: Any, users: dict[str, str]) -> Any:
    """``config`` with its first route's basic_auth users replaced."""
    lines = "".join(f"{user}:{hashed}\n" for user, hashed in users.items())
    per_route = basic_auth_pb2.BasicAuthPerRoute(users=DataSource(inline_string=lines))
    config.virtual_hosts[0].routes[0].typed_per_filter_config[BASIC].Pack(per_route)
    return config


async def serve_users(
    proxy: Proxy, backends: Backends, users: dict[str, str], options: Any = None
) -> tuple[tuple[str, int], EchoBackend]:
    """basic_routes (CEL denies bob, x-user set from basicAuth) with ``users`` on /api."""
    config = with_users(basic_routes(), users)
    if options is not None:
        config.virtual_hosts[0].routes[0].typed_per_filter_config[OPTIONS].Pack(options)
    web = await backends("web")
    return await serve_web(proxy, web, basic_listener(), config), web


async def saturate(address: tuple[str, int], password: str) -> list[Connection]:
    """MAX_CHECKING connections whose wrong passwords for "slow" are being hashed."""
    connections = [await Connection.open(*address) for _ in range(MAX_CHECKING)]
    for count, connection in enumerate(connections, 1):
        await connection.send(get("slow", f"{password}-{count}"))
        await until_in_flight(count)
    return connections


async def test_other_requests_are_served_while_passwords_are_hashed(
    proxy: Proxy, backends: Backends
) -> None:
    address, web = await serve_users(proxy, backends, {"slow": SLOW})
    connections = await saturate(address, "wrong")
    answers = [asyncio.create_task(c.read_response(timeout=30)) for c in connections]
    try:
        other = await fetch(*address, request_bytes("GET", "/else"))
        assert other.status == 200
        assert not any(answer.done() for answer in answers)  # still hashing
        refused = [await answer for answer in answers]
    finally:
        for connection in connections:
            await connection.close()
    assert [response.status for response in refused] == [401] * MAX_CHECKING
    assert refused[0].body == BASIC_DENIED_BODY
    assert [request.target for request in web.received] == ["/else"]


async def test_beyond_the_bound_new_passwords_get_503_remembered_ones_pass(
    proxy: Proxy, backends: Backends
) -> None:
    users = {"slow": SLOW, "alice": FAST["alice"]}
    address, web = await serve_users(proxy, backends, users)
    remembered = await Connection.open(*address)
    assert (await remembered.request(get("alice", "alice-pw"))).status == 200
    assert (await remembered.request(get("alice", "not-it"))).status == 401
    connections = await saturate(address, "spray")
    answers = [asyncio.create_task(c.read_response(timeout=30)) for c in connections]
    try:
        busy = await fetch(*address, get("alice", "new-guess"))
        assert busy.status == 503
        assert busy.body == BUSY_BODY
        assert (await remembered.request(get("alice", "alice-pw"))).status == 200
        assert (await remembered.request(get("alice", "not-it"))).status == 401
        assert not any(answer.done() for answer in answers)
        assert {(await answer).status for answer in answers} == {401}
    finally:
        for connection in [remembered, *connections]:
            await connection.close()
    hashed = parse_hash(FAST["alice"])
    assert hashed is not None
    assert htpasswd.RECENT.answer(hashed, b"new-guess") is None  # refused, not hashed
    assert (await fetch(*address, get("alice", "new-guess"))).status == 401
    assert len(web.received) == 2


async def test_a_right_password_is_held_then_forwarded_with_its_body(
    proxy: Proxy, backends: Backends
) -> None:
    users = {
        user: bcrypt.hashpw(pw.encode(), bcrypt.gensalt(8)).decode()
        for user, pw in PASSWORDS.items()
    }
    address, web = await serve_users(proxy, backends, users)
    body = bytes(range(256)) * (3 * 4096)  # 3 MiB: past the connection's 1 MiB buffer limit
    headers = credentials("alice", "alice-pw")
    posted = await fetch(*address, request_bytes("POST", "/api/up", headers=headers, body=body))
    assert posted.status == 200
    assert web.received[-1].body == body
    assert web.received[-1].header("x-user") == "alice"
    host, port = address
    async with httpx.AsyncClient(http1=False, http2=True) as client:
        over_h2 = await client.post(
            f"http://{host}:{port}/api/h2",
            headers=credentials("carol", "carol-pw"),
            content=body[:300_000],
        )
    assert over_h2.status_code == 200
    assert web.received[-1].body == body[:300_000]
    assert web.received[-1].header("x-user") == "carol"


async def test_authorization_sees_the_user_after_a_threaded_check(
    proxy: Proxy, backends: Backends
) -> None:
    options = auth_options_pb2.AuthOptionsPerRoute(basic_auth_realm="staff")
    address, web = await serve_users(proxy, backends, FAST, options)
    denied = await fetch(*address, get("bob", "bob-pw"))
    assert (denied.status, denied.body) == (403, b"RBAC: access denied")
    wrong = await fetch(*address, get("carol", "bob-pw"))
    assert wrong.status == 401
    assert wrong.header("www-authenticate") == 'Basic realm="staff"'
    allowed = await fetch(*address, get("alice", "alice-pw"))
    assert allowed.status == 200
    assert [request.header("x-user") for request in web.received] == ["alice"]


def ext_authz_resources(web: EchoBackend, authz: GrpcAuthz) -> XdsResources:
    """basic_auth then a gRPC ext_authz (wanting 8 body bytes) on /private."""
    config = resources(grpc_filter(body=8), web, (AUTH_HOST, authz.port))
    listener = config.listeners["l"]
    manager = r.http_manager("rc")
    listener.filter_chains[0].filters[0].typed_config.Unpack(manager)
    nobody = DataSource(inline_string="-:{SHA}AAAAAAAAAAAAAAAAAAAAAAAAAAA=\n")
    basic = manager.http_filters.add(name=BASIC, disabled=True)
    basic.typed_config.Pack(basic_auth_pb2.BasicAuth(users=nobody))
    # basic_auth comes first in the chain.
    manager.http_filters.insert(0, manager.http_filters.pop())
    listener.filter_chains[0].filters[0].typed_config.Pack(manager)
    with_users(config.route_configs["rc"], FAST)
    return config


async def test_ext_authz_is_asked_after_a_threaded_check(
    proxy: Proxy, backends: Backends, grpc_authz: GrpcAuthz
) -> None:
    web = await backends("web")
    await proxy.apply(compile_config(ext_authz_resources(web, grpc_authz), "1"))
    address = proxy.address_of("l")
    assert address is not None
    before = len(grpc_authz.checks)
    body = b"0123456789abcdef" * 1024
    wrong = credentials("alice", "bob-pw")
    refused = await fetch(*address, request_bytes("POST", "/private", headers=wrong, body=body))
    assert refused.status == 401
    assert len(grpc_authz.checks) == before  # basic_auth refused first
    right = credentials("alice", "alice-pw")
    asked = await fetch(*address, request_bytes("POST", "/private", headers=right, body=body))
    # The service allows only its own bearer token: its denial shows it was asked.
    assert (asked.status, asked.body) == (403, GRPC_DENIED_BODY.encode())
    assert len(grpc_authz.checks) == before + 1
    check = grpc_authz.checks[-1]
    assert check.body == body[:8]
    assert check.headers["authorization"] == right["authorization"]
    assert web.received == []


async def test_clients_leaving_mid_check(proxy: Proxy, backends: Backends) -> None:
    errors: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _, context: errors.append(context))
    users = {"slow": SLOW, "alice": FAST["alice"]}
    address, web = await serve_users(proxy, backends, users)
    connections = await saturate(address, "leaving")
    # The thread hashes the first; the others wait for it and are dropped unstarted.
    for connection in connections[1:]:
        await connection.close()
    await until_in_flight(1)
    await connections[0].close()
    await until_in_flight(0, timeout=30)
    hashed = parse_hash(SLOW)
    assert hashed is not None
    for index in range(MAX_CHECKING):
        assert htpasswd.RECENT.answer(hashed, f"leaving-{index + 1}".encode()) is None
    served: Response = await fetch(*address, get("alice", "alice-pw"))
    assert served.status == 200
    assert len(web.received) == 1
    assert errors == []
