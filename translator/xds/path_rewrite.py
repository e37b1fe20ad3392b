"""Gateway API path modifiers (ReplaceFullPath, ReplacePrefixMatch) on Envoy's rewrite fields.

Prefix replacement is path-segment aware: with prefix ``/foo``, ``/foo/x`` becomes ``/new/x``
and ``/foo`` becomes ``/new``; trailing slashes on either side never double up, and replacing
with ``/`` turns ``/foo/x`` into ``/x``, not ``//x``. Envoy's ``prefix_rewrite`` swaps the
matched characters verbatim, which is right only when both sides are non-root; the other cases
use a regex or a computed full path.
"""

from __future__ import annotations

from dataclasses import dataclass

from envoy.type.matcher.v3 import regex_pb2
from google.protobuf.message import Message

from translator.ir import PathMatch, PathMatchKind, PathRewrite, PathRewriteKind
from translator.xds.errors import PrefixRewriteWithoutPrefix

# RE2 metacharacters; escaping only these keeps patterns readable in dumps.
_RE2_SPECIAL = frozenset("\\.+*?()|[]{}^$")


@dataclass(frozen=True, slots=True)
class _FullPath:
    path: str


@dataclass(frozen=True, slots=True)
class _SwapPrefix:
    replacement: str


@dataclass(frozen=True, slots=True)
class _StripPrefix:
    """Replace the prefix and the slash after it by a single ``/``."""

    prefix: str


_Plan = _FullPath | _SwapPrefix | _StripPrefix | None


def apply_to_route_action(action: Message, rewrite: PathRewrite, match: PathMatch) -> None:
    plan = _plan(rewrite, match)
    if isinstance(plan, _FullPath):
        # Envoy applies regex_rewrite to the path without its query, so the query survives.
        action.regex_rewrite.CopyFrom(_substitution("^/.*$", _escape_substitution(plan.path)))
    else:
        _apply_prefix_plan(action, plan)


def apply_to_redirect(redirect: Message, rewrite: PathRewrite, match: PathMatch) -> None:
    plan = _plan(rewrite, match)
    if isinstance(plan, _FullPath):
        redirect.path_redirect = plan.path
    else:
        _apply_prefix_plan(redirect, plan)


def _apply_prefix_plan(target: Message, plan: _SwapPrefix | _StripPrefix | None) -> None:
    if isinstance(plan, _SwapPrefix):
        target.prefix_rewrite = plan.replacement
    elif isinstance(plan, _StripPrefix):
        target.regex_rewrite.CopyFrom(_substitution(f"^{_escape_re2(plan.prefix)}/?", "/"))


def _plan(rewrite: PathRewrite, match: PathMatch) -> _Plan:
    if rewrite.kind is PathRewriteKind.FULL:
        return _FullPath(rewrite.value)
    replacement = rewrite.value.rstrip("/")
    if match.kind is PathMatchKind.EXACT:
        # The whole path is known: compute it, keeping a trailing slash the path had.
        matched = match.value.rstrip("/")
        return _FullPath((replacement + match.value[len(matched) :]) or "/")
    if match.kind is not PathMatchKind.PREFIX:
        raise PrefixRewriteWithoutPrefix(
            f"ReplacePrefixMatch {rewrite.value!r} needs a PathPrefix or Exact match, "
            f"not {match.kind} {match.value!r}"
        )
    prefix = match.value.rstrip("/")
    if not prefix:
        # Prefix "/" matched only the leading slash, which the replacement must keep.
        return _SwapPrefix(replacement + "/") if replacement else None
    return _SwapPrefix(replacement) if replacement else _StripPrefix(prefix)


def _substitution(pattern: str, substitution: str) -> Message:
    return regex_pb2.RegexMatchAndSubstitute(
        pattern=regex_pb2.RegexMatcher(regex=pattern), substitution=substitution
    )


def _escape_re2(literal: str) -> str:
    return "".join(f"\\{char}" if char in _RE2_SPECIAL else char for char in literal)


def _escape_substitution(literal: str) -> str:
    # Backslashes introduce capture group references in Envoy's substitution strings.
    return literal.replace("\\", "\\\\")
