"""HTTPRoute filters that become IR directly: header modifiers, redirects and rewrites."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from translator import ir

WELL_KNOWN_PORTS = {"http": 80, "https": 443}


class UnsupportedFilter(Exception):
    """A rule uses a filter or value agw cannot honour; the rule is dropped and reported."""


def header_mutation(spec: Any) -> ir.HeaderMutation:
    if spec is None:
        return ir.NO_HEADER_MUTATION
    return ir.HeaderMutation(
        set=tuple(ir.HeaderValue(h.name, h.value) for h in spec.set or ()),
        add=tuple(ir.HeaderValue(h.name, h.value) for h in spec.add or ()),
        remove=tuple(spec.remove or ()),
    )


def _path_modifier(
    spec: Any, matches: Sequence[tuple[ir.RouteMatch, Any]], where: str
) -> ir.PathRewrite | None:
    if spec is None:
        return None
    kind = ir.PathRewriteKind(str(spec.type))
    if kind is ir.PathRewriteKind.FULL:
        return ir.PathRewrite(kind, spec.replace_full_path or "/")
    if any(match.path.kind is not ir.PathMatchKind.PREFIX for match, _ in matches):
        raise UnsupportedFilter(
            f"{where}: ReplacePrefixMatch needs every match of the rule to be a PathPrefix match"
        )
    return ir.PathRewrite(kind, spec.replace_prefix_match or "/")


def url_rewrite(
    spec: Any, matches: Sequence[tuple[ir.RouteMatch, Any]], where: str
) -> tuple[str | None, ir.PathRewrite | None]:
    return spec.hostname or None, _path_modifier(spec.path, matches, f"{where}.urlRewrite.path")


@dataclass(frozen=True, slots=True)
class RedirectTemplate:
    """A redirect whose port depends on the listener it is served from."""

    status_code: int
    scheme: str | None
    hostname: str | None
    port: int | None
    path: ir.PathRewrite | None

    def resolve(self, listener_port: int, listener_scheme: str) -> ir.RedirectAction:
        """Gateway API port rules: an explicit port wins; else a set scheme implies its
        well-known port; else the listener's port. The Location leaves a scheme's default
        port out (IR port 0)."""
        effective_scheme = self.scheme or listener_scheme
        if self.port is not None:
            port = self.port
        elif self.scheme is not None:
            port = WELL_KNOWN_PORTS.get(self.scheme, listener_port)
        else:
            port = listener_port
        if WELL_KNOWN_PORTS.get(effective_scheme) == port:
            port = 0
        return ir.RedirectAction(
            status_code=self.status_code,
            scheme=self.scheme,
            hostname=self.hostname,
            port=port,
            path=self.path,
        )


def redirect_template(
    spec: Any, matches: Sequence[tuple[ir.RouteMatch, Any]], where: str
) -> RedirectTemplate:
    return RedirectTemplate(
        status_code=spec.status_code or 302,
        scheme=spec.scheme or None,
        hostname=spec.hostname or None,
        port=spec.port,
        path=_path_modifier(spec.path, matches, f"{where}.requestRedirect.path"),
    )


def cors_policy(spec: Any) -> ir.CorsPolicy:
    return ir.CorsPolicy(
        allow_origins=tuple(str(origin) for origin in spec.allow_origins),
        allow_methods=tuple(str(method) for method in spec.allow_methods),
        allow_headers=tuple(spec.allow_headers),
        expose_headers=tuple(spec.expose_headers),
        max_age_seconds=spec.max_age,
        allow_credentials=bool(spec.allow_credentials),
    )
