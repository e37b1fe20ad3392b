"""HTTPRoute rules to IR routes: matches, filters, backends, timeouts and retries.

A rule becomes a ``RuleTemplate`` once per route; ``routes_for_listener`` then turns templates
into IR routes for one listener (redirect ports depend on the listener)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from translator import ir, naming
from translator.gatewayapi.backend import BackendProblem, Backends
from translator.gatewayapi.conditions import Reason
from translator.gatewayapi.extauth import ExtAuthUnresolved, external_auth
from translator.gatewayapi.filters import (
    RedirectTemplate,
    UnsupportedFilter,
    cors_policy,
    header_mutation,
    redirect_template,
    url_rewrite,
)
from translator.gatewayapi.precedence import MatchRank, match_rank
from translator.gatewayapi.referencegrant import ReferenceFrom
from translator.gatewayapi.session import session_persistence, sticky_action
from translator.gatewayapi.status import GATEWAY_GROUP
from translator.model import HTTPRoute
from translator.model.duration import parse_duration

DEFAULT_MATCH = ir.RouteMatch()


@dataclass(frozen=True, slots=True)
class RuleTemplate:
    index: int
    matches: tuple[tuple[ir.RouteMatch, MatchRank], ...]
    action: ir.ForwardAction | ir.DirectResponseAction | RedirectTemplate
    request_headers: ir.HeaderMutation = ir.NO_HEADER_MUTATION
    response_headers: ir.HeaderMutation = ir.NO_HEADER_MUTATION
    cors: ir.CorsPolicy | None = None
    ext_auth: ir.ExtAuth | None = None


@dataclass
class TranslatedRoute:
    """An HTTPRoute or GRPCRoute, rule by rule; both become HTTP routes."""

    route: Any
    kind: str = "HTTPRoute"
    rules: list[RuleTemplate] = field(default_factory=list)
    # (reason, message) for the ResolvedRefs condition; the first one is reported.
    ref_problems: list[tuple[Reason, str]] = field(default_factory=list)
    # Rules dropped because they use something unsupported or invalid.
    rule_problems: list[str] = field(default_factory=list)


def translate_http_route(route: HTTPRoute, backends: Backends) -> TranslatedRoute:
    result = TranslatedRoute(route=route)
    source = ReferenceFrom(GATEWAY_GROUP, "HTTPRoute", route.metadata.namespace)
    for index, rule in enumerate(route.spec.rules):
        try:
            result.rules.append(_translate_rule(index, rule, source, backends, result))
        except UnsupportedFilter as problem:
            result.rule_problems.append(f"spec.rules[{index}]: {problem}")
    return result


def _translate_rule(
    index: int, rule: Any, source: ReferenceFrom, backends: Backends, result: TranslatedRoute
) -> RuleTemplate:
    where = f"spec.rules[{index}]"
    matches = tuple(
        _translate_match(m, f"{where}.matches[{j}]") for j, m in enumerate(rule.matches or ())
    )
    if not matches:
        matches = ((DEFAULT_MATCH, match_rank(DEFAULT_MATCH)),)
    session = rule_session(result, index, [match.path for match, _ in matches], where, rule)
    request_headers = ir.NO_HEADER_MUTATION
    response_headers = ir.NO_HEADER_MUTATION
    redirect: RedirectTemplate | None = None
    host_rewrite: str | None = None
    path_rewrite: ir.PathRewrite | None = None
    mirrors: list[ir.Mirror] = []
    cors: ir.CorsPolicy | None = None
    ext_auth: ir.ExtAuth | None = None
    for k, flt in enumerate(rule.filters or ()):
        kind = str(flt.type)
        fwhere = f"{where}.filters[{k}]"
        if kind == "RequestHeaderModifier":
            request_headers = header_mutation(flt.request_header_modifier)
        elif kind == "ResponseHeaderModifier":
            response_headers = header_mutation(flt.response_header_modifier)
        elif kind == "RequestRedirect":
            redirect = redirect_template(flt.request_redirect, matches, fwhere)
        elif kind == "URLRewrite":
            host_rewrite, path_rewrite = url_rewrite(flt.url_rewrite, matches, fwhere)
        elif kind == "RequestMirror":
            mirror = request_mirror(flt.request_mirror, source, backends, result)
            if mirror is not None:
                mirrors.append(mirror)
        elif kind == "CORS":
            cors = cors_policy(flt.cors)
        elif kind == "ExternalAuth":
            try:
                ext_auth = external_auth(flt.external_auth, source, backends, result.ref_problems)
            except ExtAuthUnresolved:
                # Never serve the rule unauthenticated: it answers 500, like invalid backends.
                return RuleTemplate(
                    index, matches, ir.DirectResponseAction(500), request_headers, response_headers
                )
        elif kind == "ExtensionRef":
            ref = flt.extension_ref
            result.ref_problems.append(
                (
                    Reason.INVALID_KIND,
                    f"{fwhere}: extensionRef {ref.group}/{ref.kind} {ref.name} is not supported",
                )
            )
            return RuleTemplate(
                index, matches, ir.DirectResponseAction(500), request_headers, response_headers
            )
        else:
            raise UnsupportedFilter(f"{fwhere}: filter type {kind} is not supported yet")
    action: ir.ForwardAction | ir.DirectResponseAction | RedirectTemplate
    if redirect is not None:
        action = redirect
    else:
        action = forward_action(
            rule,
            where,
            source,
            backends,
            result,
            host_rewrite,
            path_rewrite,
            tuple(mirrors),
            session=session,
        )
        action = sticky_rule_action(action, result, index, backends)
    return RuleTemplate(index, matches, action, request_headers, response_headers, cors, ext_auth)


def _translate_match(match: Any, where: str) -> tuple[ir.RouteMatch, MatchRank]:
    path = ir.PathMatch(ir.PathMatchKind.PREFIX, "/")
    if match.path is not None:
        kind = ir.PathMatchKind(str(match.path.type or "PathPrefix"))
        value = match.path.value if match.path.value is not None else "/"
        if kind is ir.PathMatchKind.PREFIX and len(value) > 1:
            value = value.rstrip("/") or "/"
        if kind is ir.PathMatchKind.REGEX:
            check_regex(value, f"{where}.path.value")
        path = ir.PathMatch(kind, value)
    headers: list[ir.HeaderMatch] = []
    seen: set[str] = set()
    for h in match.headers or ():
        name = h.name.lower()
        if name in seen:
            continue  # the spec: the first match for a name wins, later ones are ignored
        seen.add(name)
        kind_ = ir.StringMatchKind(str(h.type or "Exact"))
        if kind_ is ir.StringMatchKind.REGEX:
            check_regex(h.value, f"{where}.headers")
        headers.append(ir.HeaderMatch(name, kind_, h.value))
    if match.method is not None:
        headers.insert(0, ir.HeaderMatch(":method", ir.StringMatchKind.EXACT, str(match.method)))
    params: list[ir.QueryParamMatch] = []
    seen_params: set[str] = set()
    for q in match.query_params or ():
        if q.name in seen_params:
            continue
        seen_params.add(q.name)
        qkind = ir.StringMatchKind(str(q.type or "Exact"))
        if qkind is ir.StringMatchKind.REGEX:
            check_regex(q.value, f"{where}.queryParams")
        params.append(ir.QueryParamMatch(q.name, qkind, q.value))
    result = ir.RouteMatch(path=path, headers=tuple(headers), query_params=tuple(params))
    return result, match_rank(result)


def check_regex(pattern: str, where: str) -> None:
    try:
        re.compile(pattern)
    except re.error as error:
        raise UnsupportedFilter(
            f"{where}: invalid regular expression {pattern!r}: {error}"
        ) from None


def request_mirror(
    spec: Any, source: ReferenceFrom, backends: Backends, result: TranslatedRoute
) -> ir.Mirror | None:
    resolved = backends.resolve(source, spec.backend_ref)
    if isinstance(resolved, BackendProblem):
        result.ref_problems.append((resolved.reason, resolved.message))
        return None
    numerator, denominator = 100, 100
    if spec.percent is not None:
        numerator = spec.percent
    elif spec.fraction is not None:
        numerator = spec.fraction.numerator
        denominator = spec.fraction.denominator or 100
    return ir.Mirror(resolved.cluster.name, numerator, denominator)


def forward_action(
    rule: Any,
    where: str,
    source: ReferenceFrom,
    backends: Backends,
    result: TranslatedRoute,
    host_rewrite: str | None,
    path_rewrite: ir.PathRewrite | None,
    mirrors: tuple[ir.Mirror, ...],
    protocol: ir.UpstreamProtocol | None = None,
    session: ir.SessionPersistence | None = None,
) -> ir.ForwardAction | ir.DirectResponseAction:
    """``protocol`` forces the backends' upstream protocol (gRPC is always HTTP/2).
    ``session`` is the rule's own session persistence; without one, the first backend whose
    Service has an XBackendTrafficPolicy with session persistence lends its own."""
    weighted: list[ir.WeightedBackend] = []
    websocket = False
    for b, ref in enumerate(rule.backend_refs or ()):
        weight = 1 if ref.weight is None else ref.weight
        resolved = backends.resolve(source, ref, protocol)
        if isinstance(resolved, BackendProblem) or resolved.blocked:
            if isinstance(resolved, BackendProblem):
                result.ref_problems.append((resolved.reason, resolved.message))
            if weight > 0:
                weighted.append(ir.WeightedBackend(None, weight))
            continue
        websocket = websocket or resolved.websocket
        session = session or resolved.session
        request_headers, response_headers = backend_filters(ref, f"{where}.backendRefs[{b}]")
        if weight > 0:
            weighted.append(
                ir.WeightedBackend(resolved.cluster.name, weight, request_headers, response_headers)
            )
    if not weighted or all(backend.cluster is None for backend in weighted):
        return ir.DirectResponseAction(500)
    timeouts = getattr(rule, "timeouts", None)  # GRPCRoute rules have none
    return ir.ForwardAction(
        backends=tuple(weighted),
        request_timeout=_duration(timeouts.request if timeouts else None),
        backend_request_timeout=_duration(timeouts.backend_request if timeouts else None),
        retry=_retry(getattr(rule, "retry", None)),
        mirrors=mirrors,
        host_rewrite=host_rewrite,
        path_rewrite=path_rewrite,
        allow_websocket=websocket,
        session=session,
    )


def rule_session(
    result: TranslatedRoute, index: int, paths: list[ir.PathMatch], where: str, rule: Any
) -> ir.SessionPersistence | None:
    if rule.session_persistence is None:
        return None
    meta = result.route.metadata
    owner = f"{result.kind}/{meta.namespace}/{meta.name}/rule/{index}"
    return session_persistence(rule.session_persistence, owner, paths, where)


def sticky_rule_action(
    action: ir.ForwardAction | ir.DirectResponseAction,
    result: TranslatedRoute,
    index: int,
    backends: Backends,
) -> ir.ForwardAction | ir.DirectResponseAction:
    if not isinstance(action, ir.ForwardAction) or action.session is None:
        return action
    meta = result.route.metadata
    name = naming.route_rule_cluster(result.kind, meta.namespace, meta.name, index)
    return sticky_action(action, backends, name)


def backend_filters(ref: Any, where: str) -> tuple[ir.HeaderMutation, ir.HeaderMutation]:
    request_headers = ir.NO_HEADER_MUTATION
    response_headers = ir.NO_HEADER_MUTATION
    for k, flt in enumerate(ref.filters or ()):
        kind = str(flt.type)
        if kind == "RequestHeaderModifier":
            request_headers = header_mutation(flt.request_header_modifier)
        elif kind == "ResponseHeaderModifier":
            response_headers = header_mutation(flt.response_header_modifier)
        else:
            raise UnsupportedFilter(
                f"{where}.filters[{k}]: filter type {kind} is not supported on a backendRef"
            )
    return request_headers, response_headers


def _duration(text: str | None) -> float | None:
    return None if text is None else parse_duration(text)


def _retry(spec: Any) -> ir.RetryPolicy | None:
    if spec is None:
        return None
    attempts = spec.attempts if spec.attempts is not None else 1
    backoff = parse_duration(spec.backoff) if spec.backoff else None
    return ir.RetryPolicy(
        attempts=attempts, status_codes=tuple(spec.codes or ()), backoff_seconds=backoff
    )


def routes_for_listener(
    translated: TranslatedRoute, port: int, scheme: str
) -> list[tuple[tuple[Any, ...], ir.Route]]:
    """IR routes with their precedence sort keys, for one listener."""
    route = translated.route
    meta = route.metadata
    origin = f"{translated.kind}/{meta.namespace}/{meta.name}"
    age = meta.creation_timestamp or ""
    out: list[tuple[tuple[Any, ...], ir.Route]] = []
    # An HTTPRoute and a GRPCRoute may share a namespace and name: the HTTPRoute goes first.
    kind_rank = 0 if translated.kind == "HTTPRoute" else 1
    for rule in translated.rules:
        action: ir.RouteAction
        if isinstance(rule.action, RedirectTemplate):
            action = rule.action.resolve(port, scheme)
        else:
            action = rule.action
        for j, (match, rank) in enumerate(rule.matches):
            key = (*rank, age, meta.namespace, meta.name, rule.index, j, kind_rank)
            name = naming.http_route_rule(
                meta.namespace, meta.name, rule.index, j, translated.kind.lower()
            )
            out.append(
                (
                    key,
                    ir.Route(
                        name,
                        match,
                        action,
                        rule.request_headers,
                        rule.response_headers,
                        origin,
                        rule.cors,
                        ext_auth=rule.ext_auth,
                    ),
                )
            )
    return out
