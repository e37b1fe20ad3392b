"""Redirect protos and path rewrites (for forwarded and redirected requests).

Covers the Location port rules (the listener's port when the IR keeps the request's, the
well-known port of the final scheme left out, 0 stripping it), status codes, and which Envoy
rewrite field each Gateway API path modifier becomes. What Envoy then sends is proven in
test_xds_envoy.py.
"""

from __future__ import annotations

from typing import Any

import pytest
from envoy.config.route.v3 import route_components_pb2 as route_pb2

from tests.translator.xds.xds_samples import route, to_a
from translator.ir import (
    PathMatch,
    PathMatchKind,
    PathRewrite,
    PathRewriteKind,
    RedirectAction,
    RouteMatch,
)
from translator.xds.errors import PrefixRewriteWithoutPrefix, UnsupportedRedirectStatus
from translator.xds.redirect import build_redirect
from translator.xds.route import build_route


def _redirect(action: RedirectAction, *, port: int = 8080, scheme: str = "http") -> Any:
    return build_redirect(
        action, PathMatch(PathMatchKind.PREFIX, "/old"), listener_port=port, listener_scheme=scheme
    )


@pytest.mark.parametrize(
    ("action", "listener", "expected_port"),
    [
        (RedirectAction(), (8080, "http"), 8080),
        (RedirectAction(), (80, "http"), None),
        (RedirectAction(), (443, "https"), None),
        (RedirectAction(), (443, "http"), 443),
        (RedirectAction(scheme="https"), (8080, "http"), 8080),
        (RedirectAction(scheme="https"), (443, "http"), None),
        (RedirectAction(scheme="https", port=443), (80, "http"), None),
        (RedirectAction(scheme="HTTPS", port=443), (80, "http"), None),
        (RedirectAction(scheme="http", port=80), (8443, "https"), None),
        (RedirectAction(scheme="http", port=443), (80, "http"), 443),
        (RedirectAction(port=0), (8080, "http"), None),
        (RedirectAction(port=9090), (8080, "http"), 9090),
    ],
)
def test_location_port(
    action: RedirectAction, listener: tuple[int, str], expected_port: int | None
) -> None:
    built = _redirect(action, port=listener[0], scheme=listener[1])

    assert (built.port_redirect or None) == expected_port


def test_scheme_and_host() -> None:
    built = _redirect(RedirectAction(scheme="https", hostname="new.example"))

    assert (built.scheme_redirect, built.host_redirect) == ("https", "new.example")
    assert not _redirect(RedirectAction()).scheme_redirect


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (301, route_pb2.RedirectAction.MOVED_PERMANENTLY),
        (302, route_pb2.RedirectAction.FOUND),
        (303, route_pb2.RedirectAction.SEE_OTHER),
        (307, route_pb2.RedirectAction.TEMPORARY_REDIRECT),
        (308, route_pb2.RedirectAction.PERMANENT_REDIRECT),
    ],
)
def test_status_codes(status: int, code: int) -> None:
    assert _redirect(RedirectAction(status_code=status)).response_code == code


def test_other_status_codes_are_refused() -> None:
    with pytest.raises(UnsupportedRedirectStatus):
        _redirect(RedirectAction(status_code=300))


def test_full_path_redirect() -> None:
    built = _redirect(RedirectAction(path=PathRewrite(PathRewriteKind.FULL, "/new")))

    assert built.path_redirect == "/new"


def _forward_rewrite(match: PathMatch, rewrite: PathRewrite) -> Any:
    ir_route = route("r", RouteMatch(path=match), to_a(path_rewrite=rewrite))
    return build_route(ir_route, listener_port=80, listener_scheme="http")


def _rewrite_fields(target: Any) -> tuple[str, str, str, str]:
    regex = target.regex_rewrite
    path = getattr(target, "path_redirect", "")
    return target.prefix_rewrite, regex.pattern.regex, regex.substitution, path


PREFIX = PathMatchKind.PREFIX
EXACT = PathMatchKind.EXACT


@pytest.mark.parametrize(
    ("match", "replacement", "expected"),
    [
        ((PREFIX, "/foo"), "/bar", ("/bar", "", "", "")),
        ((PREFIX, "/foo/"), "/bar/", ("/bar", "", "", "")),
        ((PREFIX, "/foo"), "/", ("", "^/foo/?", "/", "")),
        ((PREFIX, "/a.b"), "/", ("", "^/a\\.b/?", "/", "")),
        ((PREFIX, "/"), "/bar", ("/bar/", "", "", "")),
        ((PREFIX, "/"), "/", ("", "", "", "")),
    ],
)
def test_prefix_rewrite_on_forward(
    match: tuple[PathMatchKind, str], replacement: str, expected: tuple[str, str, str, str]
) -> None:
    built = _forward_rewrite(PathMatch(*match), PathRewrite(PathRewriteKind.PREFIX, replacement))

    assert _rewrite_fields(built.route) == expected


@pytest.mark.parametrize(
    ("exact", "replacement", "path"),
    [("/foo", "/bar", "/bar"), ("/foo/", "/bar", "/bar/"), ("/foo", "/", "/")],
)
def test_prefix_rewrite_of_an_exact_match_computes_the_path(
    exact: str, replacement: str, path: str
) -> None:
    built = _forward_rewrite(
        PathMatch(EXACT, exact), PathRewrite(PathRewriteKind.PREFIX, replacement)
    )

    assert _rewrite_fields(built.route) == ("", "^/.*$", path, "")


def test_full_path_rewrite_on_forward_replaces_the_whole_path_literally() -> None:
    built = _forward_rewrite(PathMatch(PREFIX, "/x"), PathRewrite(PathRewriteKind.FULL, "/a\\1"))

    assert _rewrite_fields(built.route) == ("", "^/.*$", "/a\\\\1", "")


def test_prefix_rewrite_on_redirect() -> None:
    match = PathMatch(PREFIX, "/old")

    assert _rewrite_fields(
        _redirect(RedirectAction(path=PathRewrite(PathRewriteKind.PREFIX, "/new")))
    ) == (
        "/new",
        "",
        "",
        "",
    )
    root = build_redirect(
        RedirectAction(path=PathRewrite(PathRewriteKind.PREFIX, "/")),
        match,
        listener_port=80,
        listener_scheme="http",
    )
    assert _rewrite_fields(root) == ("", "^/old/?", "/", "")


def test_prefix_rewrite_needs_a_literal_prefix() -> None:
    with pytest.raises(PrefixRewriteWithoutPrefix, match="RegularExpression"):
        _forward_rewrite(
            PathMatch(PathMatchKind.REGEX, "/x.*"), PathRewrite(PathRewriteKind.PREFIX, "/y")
        )
