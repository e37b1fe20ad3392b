"""agw CEL printed as Envoy CEL text (``translator.xds.cel_print``), for access-log fields and
filters and span attributes on Envoy Gateways: each literal kind, operators parenthesised,
methods, ``has()``, lists and maps, the attribute renames, and that every printed text parses
back (with agw's own CEL parser) to an expression with the same meaning. Whether Envoy accepts
the text is pinned by the agwpolicy-tracing golden case (validated by the real Envoy); whether
it logs what agw logs, by e2e/test_agw_policy_conn.py."""

from __future__ import annotations

import re

import pytest

from cel import Activation, compile_expression
from translator.xds.cel_expr import NotExpressible
from translator.xds.cel_print import envoy_cel_text


@pytest.mark.parametrize(
    ("source", "printed"),
    [
        ("request.path", "request.url_path"),
        ("request.pathAndQuery", "request.path"),
        ("response.code >= 500", "(response.code >= 500)"),
        (
            "jwt.sub",
            'metadata.filter_metadata["envoy.filters.http.jwt_authn"]["jwt_payload"].sub',
        ),
        (
            "extauthz.groups",
            'metadata.filter_metadata["envoy.filters.http.ext_authz"].groups',
        ),
        ("has(request.headers.x) ? 'a' : 'b'", '(has(request.headers.x) ? "a" : "b")'),
        ("!(request.method in ['GET', 'HEAD'])", '!((request.method in ["GET", "HEAD"]))'),
        ("-size(request.path) + 2 * 3", "(-(size(request.url_path)) + (2 * 3))"),
        ("[1, 2u, 1.5, null, true, b'\\x00a']", '[1, 2u, 1.5, null, true, b"\\x00\\x61"]'),
        ("{'k': 'line\\nbreak \"q\"'}", '{"k": "line\\nbreak \\"q\\""}'),
        (
            "request.host.endsWith('.example') || request.scheme == 'https'",
            '(request.host.endsWith(".example") || (request.scheme == "https"))',
        ),
    ],
)
def test_printed_text(source: str, printed: str) -> None:
    assert envoy_cel_text(source) == printed


@pytest.mark.parametrize(
    "source",
    [
        "1 + 2 * 3 - 4 % 3",
        "(1 + 2) * 3",
        "!true || false && true",
        "5 > 3 ? 'big' : 'small'",
        "[1, 2] == [1, 2] && {'a': 1}['a'] == 1",
        "'a\\tb\\u00e9' + \"x\"",
        "2.0 / 4.0",
    ],
)
def test_printed_text_means_the_same(source: str) -> None:
    printed = envoy_cel_text(source)
    expected = compile_expression(source, frozenset()).evaluate(Activation())
    assert compile_expression(printed, frozenset()).evaluate(Activation()) == expected


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("backend.name", "backend.name has no Envoy attribute"),
        ("default(jwt.sub, 'x')", "default() has no Envoy equivalent"),
        ("source.address", "source.address has no Envoy attribute"),
    ],
)
def test_what_envoy_lacks_is_refused(source: str, reason: str) -> None:
    with pytest.raises(NotExpressible, match=re.escape(reason)):
        envoy_cel_text(source)
