"""htpasswd hashes on the agw proxy (``dataplane.htpasswd``) and basic authentication with them.

Covers Apache MD5 (``$apr1$``) and SHA-crypt (``$5$``, ``$6$``, with and without ``rounds=``,
long salts cut, long and non-ASCII passwords) against vectors computed by ``openssl passwd``
(fixed ones, and fresh ones when openssl is on the machine); bcrypt ``$2a$``/``$2b$``/``$2y$``
against crypt_blowfish's published vectors, passwords past bcrypt's 72 bytes; wrong passwords
for every kind; malformed and unsupported lines refused by the parser and by the config
compiler (and a user named twice); the translator's notion of a verifiable line agreeing with
the proxy's parser; the remembered answers (successes and failures apart, each bounded, least
recently used out, failures never pushing successes out, a changed hash not matching); and
basic authentication through the real proxy with bcrypt, $apr1$ and $6$ users, over one
keep-alive connection, wrong passwords remembered as well as right ones.

Leaves out empty SHA-crypt passwords (openssl makes no vector for them), the cost of
verification in numbers (see ``dataplane.htpasswd``), ``{SHA}`` through the proxy
(test_policy_auth.py) and hashing in threads (test_htpasswd_threads.py)."""

from __future__ import annotations

import base64
import hashlib
import shutil
import subprocess
from typing import Any

import pytest
from envoy.config.core.v3.base_pb2 import DataSource
from envoy.extensions.filters.http.basic_auth.v3 import basic_auth_pb2

from dataplane import htpasswd
from dataplane.config.policy_auth import htpasswd_users
from dataplane.crypt import apr1_crypt, sha_crypt
from dataplane.errors import InvalidConfig
from dataplane.htpasswd import PasswordHash, RecentAnswers, Scheme, parse_hash, verify
from dataplane.proxy import Proxy
from tests.dataplane import resources as r
from tests.dataplane.client import Connection, request_bytes
from tests.dataplane.conftest import PROXY_HOST, Backends, serve_web
from translator.gatewayapi.policy.auth_options import is_agw_entry

# (password, salt, openssl passwd -apr1 -salt <salt> <password>)
APR1 = [
    ("secret", "abcdefgh", "$apr1$abcdefgh$h9FWgUz3n9YxylKLlR5SQ/"),
    ("", "x", "$apr1$x$tMwYqBfQwi3FYAr0aJc8M/"),
    ("carol-pw", "s4lt", "$apr1$s4lt$ZIoLrHEAPiuf.RPujuPgF1"),
    ("pässwörd", "utf8", "$apr1$utf8$08SRQ8YocPyoIM.MkbwRu1"),
]
# (password, openssl passwd -5/-6 -salt ... <password>)
SHA_CRYPT = [
    ("secret", "$5$saltsalt$0IyaXrmV7.sGNS6tirgqHLqX/G.FBvgkYA.lpPdS5sA"),
    ("pw", "$5$0123456789abcdef$nQeWGJveUL7jlr94v7ZnhFSJ8cRx.CTNSEnVWA95G.C"),
    ("hello", "$5$rounds=1200$salt$t2Obgzu2H2a1eNytucARhz7mHnS69MXA.3qMuCvae12"),
    ("p" * 70, "$5$longpw$DzDdQPoThz7VJBwNRO7tVA4q4E1J2s57Ay42vVslU.6"),
    (
        "secret",
        "$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77vwPZN"
        ".Pq.H91p5hVO1",
    ),
    (
        "a much longer password than the sixty-four byte block size of the digest ok",
        "$6$rounds=1000$x$B.2gmHLCfRCngbOF4bx/YGhgKw.bBJSgmZ.fBOmSR/qdn3xFR1yHPmRV6vQ9sxC2x6lth"
        "wzlMbBogYkRrpWJf.",
    ),
    (
        "pässwörd",
        "$6$rounds=6000$utf8$93bGmm3rDUKmkhP6qyC59p6DOU4ELcjKQpPTYt4nZccgYn/oElC.Vi68.oVqbP6aJGa"
        "zpEOBi4O9SJmxx9Vek1",
    ),
]
# crypt_blowfish's test vectors (Openwall), the $2a$ ones.
BCRYPT = [
    ("U*U", "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"),
    ("U*U*", "$2a$05$CCCCCCCCCCCCCCCCCCCCC.VGOzA784oUp/Z0DY336zx7pLYAy0lwK"),
    ("U*U*U", "$2a$05$XXXXXXXXXXXXXXXXXXXXXOAcXxm9kjPGEMsLznoKqmqw7tc8WCx4a"),
]


@pytest.mark.parametrize(("password", "salt", "expected"), APR1)
def test_apr1_matches_openssl(password: str, salt: str, expected: str) -> None:
    assert apr1_crypt(password.encode(), salt.encode()) == expected.encode()


@pytest.mark.parametrize(("password", "expected"), SHA_CRYPT)
def test_sha_crypt_matches_openssl(password: str, expected: str) -> None:
    hashed = parse_hash(expected)
    assert hashed is not None
    cache = RecentAnswers(8, 8)
    assert verify(hashed, password.encode(), cache)
    assert not verify(hashed, password.encode() + b"x", cache)


def test_sha_crypt_spells_rounds_and_cuts_salts() -> None:
    assert sha_crypt(b"pw", b"0123456789abcdefXYZ", None, sha512=False) == (
        b"$5$0123456789abcdef$nQeWGJveUL7jlr94v7ZnhFSJ8cRx.CTNSEnVWA95G.C"
    )
    # Out-of-range rounds are clamped, and the clamped value is written.
    assert sha_crypt(b"pw", b"x", 10, sha512=True).startswith(b"$6$rounds=1000$x$")


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
@pytest.mark.parametrize("length", [0, 1, 15, 16, 17, 63, 64, 65, 100])
def test_fresh_vectors_from_openssl(length: int) -> None:
    password = "".join(chr(ord("a") + (i * 7) % 26) for i in range(length))
    salt = f"s{length}x"
    computed = {
        "-apr1": apr1_crypt(password.encode(), salt.encode()),
        "-5": sha_crypt(password.encode(), salt.encode(), None, sha512=False),
        "-6": sha_crypt(password.encode(), salt.encode(), None, sha512=True),
    }
    for flag, ours in computed.items():
        if not password and flag != "-apr1":
            continue  # openssl answers <NULL> for an empty SHA-crypt password
        made = subprocess.run(
            ["openssl", "passwd", flag, "-salt", salt, "-stdin"],
            input=password + "\n",
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        )
        assert ours == made.stdout.strip().encode(), flag


@pytest.mark.parametrize(("password", "hashed"), BCRYPT)
@pytest.mark.parametrize("variant", ["2a", "2b", "2y"])
def test_bcrypt_variants(password: str, hashed: str, variant: str) -> None:
    text = f"${variant}${hashed[4:]}"
    parsed = parse_hash(text)
    assert parsed is not None and parsed.scheme is Scheme.BCRYPT
    cache = RecentAnswers(8, 8)
    assert verify(parsed, password.encode(), cache)
    assert not verify(parsed, password.encode() + b"!", cache)


def test_bcrypt_reads_72_bytes_of_a_password() -> None:
    import bcrypt

    long = b"x" * 72
    parsed = parse_hash(bcrypt.hashpw(long, bcrypt.gensalt(4)).decode())
    assert parsed is not None
    cache = RecentAnswers(8, 8)
    assert verify(parsed, long + b"ignored", cache)
    assert not verify(parsed, long[:71], cache)


def test_sha1_entries() -> None:
    digest = base64.b64encode(hashlib.sha1(b"alice-pw").digest()).decode()
    parsed = parse_hash("{SHA}" + digest)
    assert parsed is not None and parsed.scheme is Scheme.SHA1
    cache = RecentAnswers(8, 8)
    assert verify(parsed, b"alice-pw", cache)
    assert not verify(parsed, b"alice", cache)
    assert cache.counts() == (0, 0)  # fast enough without


MALFORMED = [
    "",
    "plain-text",
    "{SHA}short",
    "{SHA}!!!!!!!!!!!!!!!!!!!!!!!!!!!=",
    "$apr1$x$y",
    "$apr1$toolongsalt$h9FWgUz3n9YxylKLlR5SQ/",
    "$1$gg$EogBonWyPh.M/G5mv1N1W0",  # MD5-crypt: neither Envoy nor agentgateway
    "$2y$05$abcdefghijklmnopqrstuu5Ctmkz1tLJp1VQNmZtWiCQ6AdZ6Qxq",  # one character short
    "$2x$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
    "$2a$99$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
    "$5$saltsalt$0IyaXrmV7.sGNS6tirgqHLqX",
    "$6$saltsalt$0IyaXrmV7.sGNS6tirgqHLqX/G.FBvgkYA.lpPdS5sA",
    "$5$rounds=x$salt$t2Obgzu2H2a1eNytucARhz7mHnS69MXA.3qMuCvae12",
    "$5$$0IyaXrmV7.sGNS6tirgqHLqX/G.FBvgkYA.lpPdS5sA",
]


@pytest.mark.parametrize("text", MALFORMED)
def test_malformed_hashes_are_not_parsed(text: str) -> None:
    assert parse_hash(text) is None


@pytest.mark.parametrize(
    "line",
    [
        *(f"u:{text}" for text in MALFORMED),
        *(f"u:{expected}" for _, _, expected in APR1),
        *(f"u:{expected}" for _, expected in SHA_CRYPT),
        *(f"u:{hashed}" for _, hashed in BCRYPT),
        "u:{SHA}g2YDYHBhl9R/ddqtGep+ipAO4aU=",
        ":{SHA}g2YDYHBhl9R/ddqtGep+ipAO4aU=",
    ],
)
def test_translator_sends_only_lines_the_proxy_parses(line: str) -> None:
    """A line the translator keeps but the proxy refused would NACK the whole update."""
    user, _, text = line.partition(":")
    assert is_agw_entry(line) == (bool(user) and parse_hash(text) is not None)


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("alice:$apr1$x$y\n", r"line 1 is not user:<hash>"),
        ("alice:{SHA}g2YDYHBhl9R/ddqtGep+ipAO4aU=\n\nbob:$1$gg$x\n", "line 3"),
        (f"bob:{BCRYPT[0][1]}\nbob:{APR1[0][2]}\n", "user 'bob' appears twice"),
    ],
)
def test_config_refuses_malformed_lines(content: str, match: str) -> None:
    with pytest.raises(InvalidConfig, match=match):
        htpasswd_users(content.encode(), "users")


def test_config_reads_every_kind() -> None:
    content = "\n".join(
        [
            "alice:{SHA}g2YDYHBhl9R/ddqtGep+ipAO4aU=",
            f"bob:{BCRYPT[0][1]}",
            f"carol:{APR1[2][2]}",
            f"erin:{SHA_CRYPT[2][1]}",
            f"frank:{SHA_CRYPT[4][1]}",
        ]
    )
    users = htpasswd_users(content.encode(), "users")
    assert {name: hashed.scheme for name, hashed in users.items()} == {
        "alice": Scheme.SHA1,
        "bob": Scheme.BCRYPT,
        "carol": Scheme.APR1,
        "erin": Scheme.SHA256_CRYPT,
        "frank": Scheme.SHA512_CRYPT,
    }


def test_answers_are_remembered_apart_least_recently_used_out() -> None:
    cache = RecentAnswers(2, 1)
    first, second, third = (parse_hash(expected) for _, _, expected in APR1[:3])
    assert first is not None and second is not None and third is not None
    assert not verify(first, b"wrong", cache)
    assert cache.counts() == (0, 1)
    assert cache.answer(first, b"wrong") is False
    assert verify(first, b"secret", cache)
    assert verify(second, b"", cache)
    assert cache.answer(first, b"secret") is True  # now the most recently used
    assert verify(third, b"carol-pw", cache)
    assert cache.counts() == (2, 1)
    assert cache.answer(first, b"secret") and cache.answer(third, b"carol-pw")
    assert cache.answer(second, b"") is None
    # Failures push out only failures.
    assert not verify(second, b"wrong", cache)
    assert cache.counts() == (2, 1)
    assert cache.answer(first, b"wrong") is None
    assert cache.answer(first, b"secret") and cache.answer(third, b"carol-pw")
    # The pair is tied to the hash: a user whose hash changed verifies again.
    changed = PasswordHash(Scheme.APR1, apr1_crypt(b"secret", b"other"))
    assert cache.answer(changed, b"secret") is None
    assert cache.answer(changed, b"wrong") is None


BASIC = "envoy.filters.http.basic_auth"
USERS = {
    "bob": ("U*U", BCRYPT[0][1].replace("$2a$", "$2y$")),
    "carol": ("carol-pw", APR1[2][2]),
    "frank": ("secret", SHA_CRYPT[4][1]),
}


def basic_config() -> tuple[Any, Any]:
    listener = r.listener("l", PROXY_HOST, 0, "rc")
    manager = r.http_manager("rc")
    router = list(manager.http_filters)
    del manager.http_filters[:]
    nobody = DataSource(inline_string="-:{SHA}AAAAAAAAAAAAAAAAAAAAAAAAAAA=\n")
    manager.http_filters.add(name=BASIC, disabled=True).typed_config.Pack(
        basic_auth_pb2.BasicAuth(users=nobody)
    )
    manager.http_filters.extend(router)
    listener.filter_chains[0].filters[0].typed_config.Pack(manager)
    guarded = r.to_cluster("web", "/")
    lines = "".join(f"{user}:{hashed}\n" for user, (_, hashed) in USERS.items())
    per_route = basic_auth_pb2.BasicAuthPerRoute(users=DataSource(inline_string=lines))
    guarded.typed_per_filter_config[BASIC].Pack(per_route)
    return listener, r.route_config("rc", r.vhost("v", ["*"], guarded))


def credentials(user: str, password: str) -> dict[str, str]:
    return {"authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


async def test_salted_hash_users_through_the_proxy(proxy: Proxy, backends: Backends) -> None:
    web = await backends("web")
    address = await serve_web(proxy, web, *basic_config())
    connection = await Connection.open(*address)
    try:
        for user, (password, _) in USERS.items():
            wrong = await connection.request(get_with(credentials(user, password + "x")))
            assert wrong.status == 401, user
            for _ in range(2):  # the second time from the cache
                right = await connection.request(get_with(credentials(user, password)))
                assert right.status == 200, user
    finally:
        await connection.close()
    assert len(web.received) == 2 * len(USERS)
    for password, hashed in USERS.values():
        parsed = parse_hash(hashed)
        assert parsed is not None
        assert htpasswd.RECENT.answer(parsed, password.encode()) is True
        assert htpasswd.RECENT.answer(parsed, password.encode() + b"x") is False


def get_with(headers: dict[str, str]) -> bytes:
    return request_bytes("GET", "/", headers=headers)
