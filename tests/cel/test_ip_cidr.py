"""The Kubernetes CEL IP and CIDR libraries (``cel.network``) as expressions see them.

Covers: ``isIP``, ``ip``, ``ip.isCanonical``, ``isCIDR``, ``cidr`` and every member
(``family``, the ``is*`` classifiers, ``containsIP``, ``containsCIDR``, ``ip``, ``masked``,
``prefixLength``), ``string()`` and equality, for IPv4 and IPv6, with each input given both as
a literal (folded at compile time) and through a variable (parsed per evaluation); what
Kubernetes refuses (IPv4-mapped, zones, leading zeros, malformed prefixes) as evaluation
errors, type errors as ``NoSuchOverload``, constant bad literals as compile errors, containment
against ``ipaddress``'s own for random networks, and ``source.address`` from the proxy's
adapter. Leaves out Envoy conversion (tests/translator/test_cel_expr.py) and the proxy's
authorization filter (tests/dataplane).
"""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cel import (
    Activation,
    CompileError,
    EvaluationError,
    NoSuchOverload,
    ValueOutOfRange,
    compile_expression,
    constant_value,
)
from cel.network import CIDR, IP
from dataplane.cel import PeerAddress
from translator.cel import check_expression_for


def evaluate(expression: str, **metadata: Any) -> Any:
    return compile_expression(expression).evaluate(Activation(metadata=metadata))


def both_ways(template: str, text: str) -> list[tuple[str, dict[str, Any]]]:
    """``template`` with ``{}`` as a string literal and as a variable holding the same text."""
    literal = '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return [(template.format(literal), {}), (template.format("metadata.x"), {"x": text})]


def agree(template: str, text: str) -> Any:
    """The value both ways, after checking they are the same."""
    results = [
        evaluate(expression, **metadata) for expression, metadata in both_ways(template, text)
    ]
    assert results[0] == results[1]
    return results[0]


NOT_IPS = [
    "127.0.0.256",
    ":::1",
    "01.2.3.4",
    "1.2.3.04",
    "1.2.3",
    "1.2.3.4.5",
    "0x7f.0.0.1",
    "::ffff:1.2.3.4",
    "::ffff:0:0",
    "fe80::1%eth0",
    "1.2.3.4/32",
    " 1.2.3.4",
    "1.2.3.4 ",
    "१.2.3.4",
    "2001:db8::g",
    "1:2:3:4:5:6:7:8:9",
    "",
]
IS_IP = [
    ("127.0.0.1", True),
    ("0.0.0.0", True),
    ("255.255.255.255", True),
    ("::1", True),
    ("::", True),
    ("2001:DB8::abcd", True),
    ("::1.2.3.4", True),
    *((text, False) for text in NOT_IPS),
]


@pytest.mark.parametrize(("text", "expected"), IS_IP)
def test_is_ip(text: str, expected: bool) -> None:
    assert agree("isIP({})", text) is expected


@pytest.mark.parametrize("text", NOT_IPS)
def test_ip_of_a_non_address_is_an_evaluation_error(text: str) -> None:
    with pytest.raises(ValueOutOfRange, match="ip: "):
        evaluate("ip(metadata.x)", x=text)


@pytest.mark.parametrize(
    ("text", "spelled"),
    [
        ("10.1.2.3", "10.1.2.3"),
        ("2001:DB8:0:0:0::1", "2001:db8::1"),
        ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"),
        ("1:0:1:1:1:1:1:1", "1:0:1:1:1:1:1:1"),
        ("::1.2.3.4", "::102:304"),
    ],
)
def test_string_of_ip_is_canonical(text: str, spelled: str) -> None:
    assert agree("string(ip({}))", text) == spelled


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1", True),
        ("2001:db8::abcd", True),
        ("2001:DB8::ABCD", False),
        ("2001:db8::0:0:0:abcd", False),
        ("1:0:1:1:1:1:1:1", True),
        ("1::1:1:1:1:1:1", False),
        ("::", True),
        ("0::", False),
    ],
)
def test_ip_is_canonical(text: str, expected: bool) -> None:
    assert agree("ip.isCanonical({})", text) is expected


def test_ip_is_canonical_of_a_non_address_is_an_error() -> None:
    with pytest.raises(ValueOutOfRange):
        evaluate("ip.isCanonical(metadata.x)", x="1.2.3")


IP_MEMBERS = [
    ("family", "127.0.0.1", 4),
    ("family", "::1", 6),
    ("isUnspecified", "0.0.0.0", True),
    ("isUnspecified", "::", True),
    ("isUnspecified", "127.0.0.1", False),
    ("isUnspecified", "::1", False),
    ("isLoopback", "127.0.0.1", True),
    ("isLoopback", "127.255.0.9", True),
    ("isLoopback", "192.168.0.1", False),
    ("isLoopback", "::1", True),
    ("isLoopback", "2001:db8::abcd", False),
    ("isLinkLocalMulticast", "224.0.0.1", True),
    ("isLinkLocalMulticast", "224.0.0.255", True),
    ("isLinkLocalMulticast", "224.0.1.1", False),
    ("isLinkLocalMulticast", "ff02::1", True),
    ("isLinkLocalMulticast", "ff12::1:3", True),
    ("isLinkLocalMulticast", "ff05::1", False),
    ("isLinkLocalMulticast", "fd00::1", False),
    ("isLinkLocalUnicast", "169.254.169.254", True),
    ("isLinkLocalUnicast", "192.168.0.1", False),
    ("isLinkLocalUnicast", "fe80::1", True),
    ("isLinkLocalUnicast", "febf::1", True),
    ("isLinkLocalUnicast", "fd80::1", False),
    ("isGlobalUnicast", "192.168.0.1", True),
    ("isGlobalUnicast", "10.0.0.1", True),
    ("isGlobalUnicast", "8.8.8.8", True),
    ("isGlobalUnicast", "255.255.255.255", False),
    ("isGlobalUnicast", "0.0.0.0", False),
    ("isGlobalUnicast", "127.0.0.1", False),
    ("isGlobalUnicast", "224.0.0.1", False),
    ("isGlobalUnicast", "169.254.1.1", False),
    ("isGlobalUnicast", "2001:db8::abcd", True),
    ("isGlobalUnicast", "fc00::1", True),
    ("isGlobalUnicast", "ff00::1", False),
    ("isGlobalUnicast", "fe80::1", False),
    ("isGlobalUnicast", "::1", False),
    ("isGlobalUnicast", "::", False),
]


@pytest.mark.parametrize(("member", "text", "expected"), IP_MEMBERS)
def test_ip_members(member: str, text: str, expected: Any) -> None:
    result = agree(f"ip({{}}).{member}()", text)
    assert result == expected and type(result) is type(expected)


NOT_CIDRS = [
    "192.168.0.0/33",
    "::1/129",
    "10.0.0.0",
    "10.0.0.0/",
    "/8",
    "10.0.0.0/08",
    "10.0.0.0/+8",
    "10.0.0.0/-1",
    "10.0.0.0/ 8",
    "10.0.0.0/²",
    "10.0.0.0/8/8",
    "10.0.0.0/255.0.0.0",
    "010.0.0.0/8",
    "::ffff:1.2.3.0/120",
    "fe80::%eth0/64",
    "",
]
IS_CIDR = [
    ("192.168.0.0/16", True),
    ("192.168.0.1/16", True),
    ("0.0.0.0/0", True),
    ("1.2.3.4/32", True),
    ("::1/128", True),
    ("::/0", True),
    ("2001:DB8::/32", True),
    *((text, False) for text in NOT_CIDRS),
]


@pytest.mark.parametrize(("text", "expected"), IS_CIDR)
def test_is_cidr(text: str, expected: bool) -> None:
    assert agree("isCIDR({})", text) is expected


@pytest.mark.parametrize("text", NOT_CIDRS)
def test_cidr_of_a_non_prefix_is_an_evaluation_error(text: str) -> None:
    with pytest.raises(ValueOutOfRange, match="cidr: "):
        evaluate("cidr(metadata.x)", x=text)


CONTAINS_IP = [
    ("192.168.0.0/24", "192.168.0.1", True),
    ("192.168.0.0/24", "192.168.1.1", False),
    ("10.0.0.1/8", "10.255.0.0", True),
    ("1.2.3.4/32", "1.2.3.4", True),
    ("1.2.3.4/32", "1.2.3.5", False),
    ("0.0.0.0/0", "255.255.255.255", True),
    ("0.0.0.0/0", "::1", False),
    ("::/0", "1.2.3.4", False),
    ("2001:db8::/32", "2001:db8:ffff::1", True),
    ("2001:db8::/32", "2001:db9::1", False),
    ("::1/128", "::1", True),
]


@pytest.mark.parametrize(("network", "text", "expected"), CONTAINS_IP)
def test_contains_ip(network: str, text: str, expected: bool) -> None:
    assert agree(f'cidr("{network}").containsIP({{}})', text) is expected
    assert agree(f'cidr("{network}").containsIP(ip({{}}))', text) is expected
    assert evaluate("cidr(metadata.n).containsIP(metadata.a)", n=network, a=text) is expected


CONTAINS_CIDR = [
    ("192.168.0.0/16", "192.168.10.0/24", True),
    ("192.168.1.0/24", "192.168.2.0/24", False),
    ("192.168.1.0/24", "192.168.1.0/24", True),
    ("192.168.1.0/24", "192.168.1.128/25", True),
    ("192.168.1.0/24", "192.168.0.0/16", False),
    ("10.0.0.1/8", "10.9.0.0/16", True),
    ("0.0.0.0/0", "::/0", False),
    ("::/0", "0.0.0.0/0", False),
    ("2001:db8::/32", "2001:db8:1::/48", True),
    ("2001:db8:1::/48", "2001:db8::/32", False),
]


@pytest.mark.parametrize(("network", "text", "expected"), CONTAINS_CIDR)
def test_contains_cidr(network: str, text: str, expected: bool) -> None:
    assert agree(f'cidr("{network}").containsCIDR({{}})', text) is expected
    assert agree(f'cidr("{network}").containsCIDR(cidr({{}}))', text) is expected


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ('cidr("192.168.0.1/24").ip() == ip("192.168.0.1")', True),
        ('cidr("192.168.0.1/24").ip().family()', 4),
        ('cidr("::1/128").ip().family()', 6),
        ('string(cidr("192.168.0.1/24").masked())', "192.168.0.0/24"),
        ('cidr("192.168.0.0/24") == cidr("192.168.0.0/24").masked()', True),
        ('cidr("192.168.0.1/24") == cidr("192.168.0.1/24").masked()', False),
        ('string(cidr("2001:DB8::1/32").masked())', "2001:db8::/32"),
        ('cidr("192.168.0.0/16").prefixLength()', 16),
        ('cidr("::1/128").prefixLength()', 128),
        ('string(cidr("2001:DB8::/32"))', "2001:db8::/32"),
        ('string(cidr("10.0.0.1/8"))', "10.0.0.1/8"),
        ('ip("::1") == ip("0:0::1")', True),
        ('ip("1.2.3.4") != ip("1.2.3.5")', True),
        ('ip("1.2.3.4") == "1.2.3.4"', False),
        ('ip("1.2.3.4") == cidr("1.2.3.4/32").ip()', True),
        ('cidr("1.2.3.4/32") == ip("1.2.3.4")', False),
        ('ip("1.2.3.4") in [ip("5.6.7.8"), ip("1.2.3.4")]', True),
        ('[cidr("10.0.0.0/8")] == [cidr("10.0.0.0/8")]', True),
    ],
)
def test_cidr_members_string_and_equality(expression: str, expected: Any) -> None:
    result = evaluate(expression)
    assert result == expected and type(result) is type(expected)


TYPE_ERRORS = [
    'cidr("10.0.0.0/8").containsIP(1)',
    'cidr("10.0.0.0/8").containsIP(cidr("10.0.0.0/8"))',
    'cidr("10.0.0.0/8").containsCIDR(ip("10.0.0.1"))',
    'cidr("10.0.0.0/8").containsCIDR(metadata.n)',
    'ip("1.2.3.4").containsIP("1.2.3.4")',
    '"1.2.3.4".family()',
    'cidr("10.0.0.0/8").family()',
    'ip("1.2.3.4").prefixLength()',
    'ip("1.2.3.4").masked()',
    "isIP(metadata.n)",
    "isCIDR(1)",
    "ip(metadata.n)",
    "cidr(metadata.n)",
    "ip.isCanonical(metadata.n)",
    'ip("1.2.3.4") < ip("1.2.3.5")',
    'ip("1.2.3.4") + "x"',
    'int(ip("1.2.3.4"))',
]


@pytest.mark.parametrize("expression", TYPE_ERRORS)
def test_type_errors_are_no_such_overload(expression: str) -> None:
    with pytest.raises(NoSuchOverload):
        evaluate(expression, n=7)


def test_errors_follow_cel_logic() -> None:
    # A bad runtime address is an ordinary CEL error: || absorbs it when the other side decides.
    assert evaluate('cidr("10.0.0.0/8").containsIP(metadata.x) || true', x="nope") is True
    with pytest.raises(EvaluationError):
        evaluate('cidr("10.0.0.0/8").containsIP(metadata.x) || false', x="nope")
    with pytest.raises(ValueOutOfRange):
        evaluate("cidr(metadata.x).containsIP(1)", x="x")


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ('cidr("10.0.0.0/33")', "prefix length 33"),
        ('cidr("10.0.0.0")', "CIDR notation"),
        ('ip("127.0.0.256")', "ip: "),
        ('ip("::ffff:1.2.3.4")', "IPv4-mapped"),
        ('ip("fe80::1%eth0")', "zone"),
        ("ip(1)", "no such overload"),
        # Checked even where a guard would skip it, as a constant regex pattern is.
        ('false && ip("x").isLoopback()', "ip: "),
        ('cidr("10.0.0.0/8").containsIP("1.2.3.4", 1)', "does not take 3"),
        ("isIP()", "does not take 0"),
    ],
)
def test_constant_bad_literals_do_not_compile(expression: str, message: str) -> None:
    with pytest.raises(CompileError, match=message):
        compile_expression(expression)


def test_translator_reports_a_bad_cidr_literal_in_status() -> None:
    message = check_expression_for(
        'cidr("10.0.0.0/33").containsIP(source.address)', "authorization.rules[0]", "authorization"
    )
    assert message is not None and "prefix length 33" in message


def test_constant_literals_are_parsed_once() -> None:
    network = constant_value('cidr("10.0.0.0/8")')
    assert isinstance(network, CIDR) and str(network) == "10.0.0.0/8"
    address = constant_value('ip("2001:db8::1")')
    assert isinstance(address, IP) and str(address) == "2001:db8::1"
    assert constant_value('cidr("10.0.0.0/8").containsIP("10.1.2.3")') is True


@pytest.mark.parametrize(
    ("address", "expected"),
    [("10.1.2.3", True), ("192.168.1.1", False), ("2001:db8::1", False), ("::ffff:10.1.2.3", None)],
)
def test_source_address_from_the_proxy(address: str, expected: bool | None) -> None:
    program = compile_expression('cidr("10.0.0.0/8").containsIP(source.address)')
    activation = Activation(source=PeerAddress(address, 40000))
    if expected is None:
        with pytest.raises(ValueOutOfRange, match="IPv4-mapped"):
            program.evaluate(activation)
    else:
        assert program.evaluate(activation) is expected


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_containment_agrees_with_ipaddress(data: st.DataObject) -> None:
    version = data.draw(st.sampled_from([4, 6]))
    bits = 32 if version == 4 else 128
    base = data.draw(st.ip_addresses(v=version))
    length = data.draw(st.integers(0, bits))
    candidate = data.draw(st.ip_addresses(v=data.draw(st.sampled_from([4, 6]))))
    if getattr(base, "ipv4_mapped", None) or getattr(candidate, "ipv4_mapped", None):
        return
    network = ipaddress.ip_network(f"{base}/{length}", strict=False)
    # Half the time pick the candidate from inside the network, or random hits are too rare.
    if data.draw(st.booleans()):
        candidate = network[data.draw(st.integers(0, network.num_addresses - 1))]
    expected = candidate.version == version and candidate in network
    found = evaluate(
        "cidr(metadata.n).containsIP(metadata.a)", n=f"{base}/{length}", a=str(candidate)
    )
    assert found is expected
    assert evaluate("string(ip(metadata.a))", a=str(candidate)) == str(candidate)
