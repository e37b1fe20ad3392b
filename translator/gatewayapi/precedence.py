"""Gateway API match precedence, as a sort key (ascending sorts the first match first).

Across all routes on a virtual host: exact paths, then regular expressions, then prefixes
(longer first); then a method match; then more header matches; then more query parameter
matches. The caller appends the tie-breakers: oldest route, namespace/name, rule and match
index."""

from __future__ import annotations

from translator import ir

MatchRank = tuple[int, int, int, int, int]

_PATH_RANK = {
    ir.PathMatchKind.EXACT: 0,
    ir.PathMatchKind.REGEX: 1,
    ir.PathMatchKind.PREFIX: 2,
}


def match_rank(match: ir.RouteMatch) -> MatchRank:
    has_method = any(h.name == ":method" for h in match.headers)
    headers = len(match.headers) - (1 if has_method else 0)
    return (
        _PATH_RANK[match.path.kind],
        -len(match.path.value),
        0 if has_method else 1,
        -headers,
        -len(match.query_params),
    )
