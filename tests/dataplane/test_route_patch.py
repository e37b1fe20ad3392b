"""Compiling a serialized RouteConfiguration by the bytes that changed
(dataplane.config.route_patch) gives the table compiling the message gives: for Hypothesis
sequences of configurations (virtual hosts added, removed, replaced, moved; wildcard, prefix
and catch-all domains; a domain in two hosts; configuration-level headers changing), every
step is compared with ``compile_route_configuration`` of the same message, errors included.
Shown too: an unchanged host keeps its compiled table, the first serialization and one that
cannot be walked are compiled whole, and bytes that do not parse are rejected. Leaves what a
table does with a request to the route-table tests."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dataplane.config.route import compile_route_configuration
from dataplane.config.route_patch import common_ends, compile_encoded_route_configuration
from dataplane.config.route_table import RouteTable
from dataplane.errors import ConfigRejected
from tests.dataplane.resources import header, route_config, to_cluster, vhost

_DOMAINS = ["a.example", "b.example", "*.example", "c*", "*", "A.example", "d.example"]


def _config(hosts: list[tuple[str, list[str], str]], config_header: str | None) -> Any:
    config = route_config(
        "rc", *(vhost(name, domains, to_cluster(cluster)) for name, domains, cluster in hosts)
    )
    if config_header is not None:
        config.request_headers_to_add.append(header("x-config", config_header))
    return config


def _summary(table: RouteTable) -> object:
    def host(vhost: Any) -> object:
        return None if vhost is None else (vhost.name, [r.action for r in vhost.routes])

    return (
        table.name,
        {domain: host(v) for domain, v in table.exact.items()},
        [(n, {k: host(v) for k, v in by.items()}) for n, by in table.suffixes],
        [(n, {k: host(v) for k, v in by.items()}) for n, by in table.prefixes],
        host(table.default),
        table.route_count,
    )


def _outcome(compile_: Any) -> object:
    try:
        return _summary(compile_())
    except ConfigRejected as error:
        return ("rejected", str(error))


_HOSTS = st.lists(
    st.tuples(
        st.sampled_from(["h1", "h2", "h3", "h4", "h5"]),
        st.lists(st.sampled_from(_DOMAINS), min_size=1, max_size=2, unique=True),
        st.sampled_from(["web", "api"]),
    ),
    max_size=6,
)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(_HOSTS, st.sampled_from([None, None, "1", "2"])), max_size=8))
def test_patching_compiles_what_the_message_compiles(
    steps: list[tuple[list[tuple[str, list[str], str]], str | None]],
) -> None:
    name = f"patched-{id(steps)}"
    for hosts, config_header in steps:
        message = _config(hosts, config_header)
        message.name = name
        data = message.SerializeToString(deterministic=True)
        expected = _outcome(lambda m=message: compile_route_configuration(m))
        actual = _outcome(lambda d=data: compile_encoded_route_configuration(name, d))
        assert actual == expected


def test_a_change_keeps_the_other_hosts_compiled_tables() -> None:
    hosts = [(f"h{i}", [f"h{i}.example"], "web") for i in range(50)]
    first = compile_encoded_route_configuration(
        "kept", _config(hosts, None).SerializeToString(deterministic=True)
    )
    changed = [*hosts[:20], ("new", ["new.example"], "api"), *hosts[21:]]
    second = compile_encoded_route_configuration(
        "kept", _config(changed, None).SerializeToString(deterministic=True)
    )
    assert second.virtual_host(b"h19.example") is first.virtual_host(b"h19.example")
    assert second.virtual_host(b"h49.example") is first.virtual_host(b"h49.example")
    assert second.virtual_host(b"h20.example") is None
    assert second.virtual_host(b"new.example") is not None


def test_bytes_that_do_not_parse_are_rejected() -> None:
    with pytest.raises(ConfigRejected, match="cannot decode"):
        compile_encoded_route_configuration("garbage", b"\x12\x05ab")


@pytest.mark.parametrize(
    ("a", "b", "ends"),
    [
        (b"", b"", (0, 0)),
        (b"abc", b"abc", (3, 0)),
        (b"abXc", b"abc", (2, 1)),
        (b"aaaa", b"aa", (2, 0)),
        (b"xbc", b"ybc", (0, 2)),
    ],
)
def test_common_ends_never_overlap(a: bytes, b: bytes, ends: tuple[int, int]) -> None:
    assert common_ends(a, b) == ends
