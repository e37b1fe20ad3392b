"""Route matchers compiled once per config: path, header and query-parameter predicates.

Everything works on bytes so the request path never decodes: header values stay as received,
regexes are compiled as bytes patterns. Semantics follow Envoy's ``RouteMatch``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from dataplane.errors import InvalidConfig, UnsupportedField
from dataplane.request import RequestHead

BytesPredicate = Callable[[bytes], bool]
RequestPredicate = Callable[[RequestHead], bool]


class PathKind(IntEnum):
    PREFIX = 0
    EXACT = 1
    SEPARATED_PREFIX = 2
    REGEX = 3


@dataclass(frozen=True, slots=True)
class PathMatcher:
    kind: PathKind
    # The prefix or exact path, lower-cased when matching ignores case; the pattern for REGEX.
    value: bytes
    case_sensitive: bool = True
    regex: re.Pattern[bytes] | None = None

    def matches(self, path: bytes) -> bool:
        if not self.case_sensitive:
            path = path.lower()
        kind = self.kind
        if kind is PathKind.PREFIX:
            return path.startswith(self.value)
        if kind is PathKind.EXACT:
            return path == self.value
        if kind is PathKind.SEPARATED_PREFIX:
            value = self.value
            return path.startswith(value) and (len(path) == len(value) or path[len(value)] == 47)
        assert self.regex is not None
        return self.regex.fullmatch(path) is not None


def compile_regex(pattern: str, field_path: str) -> re.Pattern[bytes]:
    """Compile an RE2 pattern with Python's engine; the common RE2 subset is identical."""
    try:
        return re.compile(pattern.encode())
    except re.error as exc:
        raise InvalidConfig(f"{field_path}: invalid regex {pattern!r}: {exc}") from exc


def compile_path(match: Any, path: str) -> PathMatcher:
    case_sensitive = not match.HasField("case_sensitive") or match.case_sensitive.value
    which = match.WhichOneof("path_specifier")
    if which is None:
        raise InvalidConfig(f"{path}: a path specifier (prefix, path, ...) is required")
    if which == "safe_regex":
        pattern = match.safe_regex.regex
        flags_prefix = "" if case_sensitive else "(?i)"
        regex = compile_regex(flags_prefix + pattern, f"{path}.safe_regex")
        return PathMatcher(PathKind.REGEX, pattern.encode(), True, regex)
    value: str = getattr(match, which)
    kind = {
        "prefix": PathKind.PREFIX,
        "path": PathKind.EXACT,
        "path_separated_prefix": PathKind.SEPARATED_PREFIX,
    }[which]
    if kind is PathKind.SEPARATED_PREFIX and (value.endswith("/") or "?" in value):
        raise InvalidConfig(f"{path}.path_separated_prefix must not end with / nor hold ?")
    encoded = value.encode() if case_sensitive else value.lower().encode()
    return PathMatcher(kind, encoded, case_sensitive)


def compile_string_match(matcher: Any, path: str) -> BytesPredicate:
    """An ``envoy.type.matcher.v3.StringMatcher`` as a predicate over a raw value."""
    which = matcher.WhichOneof("match_pattern")
    ignore_case = matcher.ignore_case
    if which == "safe_regex":
        if ignore_case:
            raise UnsupportedField(f"{path}.ignore_case (with safe_regex)")
        return _regex_predicate(compile_regex(matcher.safe_regex.regex, f"{path}.safe_regex"))
    if which is None:
        raise InvalidConfig(f"{path}: a match pattern is required")
    expected: bytes = getattr(matcher, which).encode()
    return string_predicate(which, expected, ignore_case)


def _regex_predicate(regex: re.Pattern[bytes]) -> BytesPredicate:
    def predicate(value: bytes) -> bool:
        return regex.fullmatch(value) is not None

    return predicate


def string_predicate(kind: str, expected: bytes, ignore_case: bool = False) -> BytesPredicate:
    if ignore_case:
        expected = expected.lower()
    if kind == "exact":
        test: BytesPredicate = expected.__eq__
    elif kind == "prefix":

        def test(value: bytes) -> bool:
            return value.startswith(expected)

    elif kind == "suffix":

        def test(value: bytes) -> bool:
            return value.endswith(expected)

    elif kind == "contains":

        def test(value: bytes) -> bool:
            return expected in value

    else:
        raise InvalidConfig(f"unknown string match kind {kind!r}")
    if not ignore_case:
        return test

    def lowered(value: bytes) -> bool:
        return test(value.lower())

    return lowered


def compile_header_match(matcher: Any, path: str) -> RequestPredicate:
    """Envoy ``HeaderMatcher`` semantics, including how a missing header and ``invert`` mix."""
    name = matcher.name.lower().encode()
    invert = matcher.invert_match
    which = matcher.WhichOneof("header_match_specifier")
    present: bool | None = None
    test: BytesPredicate | None = None
    if which == "present_match":
        present = matcher.present_match
    elif which == "string_match":
        test = compile_string_match(matcher.string_match, f"{path}.string_match")
    elif which == "safe_regex_match":
        test = _regex_predicate(
            compile_regex(matcher.safe_regex_match.regex, f"{path}.safe_regex_match")
        )
    elif which in ("exact_match", "prefix_match", "suffix_match", "contains_match"):
        test = string_predicate(which.removesuffix("_match"), getattr(matcher, which).encode())
    elif which is None:
        # Envoy treats a matcher with no specifier as "present".
        present = True
    else:
        raise UnsupportedField(f"{path}.{which}")
    missing_result = present is not None and (present if invert else not present)

    def predicate(request: RequestHead) -> bool:
        value = request.header(name)
        if value is None:
            return missing_result
        matched = present if present is not None else bool(test(value))  # type: ignore[misc]
        return bool(matched != invert)

    return predicate


def compile_query_match(matcher: Any, path: str) -> RequestPredicate:
    name = matcher.name.encode()
    which = matcher.WhichOneof("query_parameter_match_specifier")
    if which == "present_match":
        present = matcher.present_match

        def present_predicate(request: RequestHead) -> bool:
            return request.query_param(name) is not None and present

        return present_predicate
    test = (
        compile_string_match(matcher.string_match, f"{path}.string_match")
        if which == "string_match"
        else None
    )

    def predicate(request: RequestHead) -> bool:
        value = request.query_param(name)
        if value is None:
            return False
        return test is None or test(value)

    return predicate
