"""GRPCRoute rules to HTTP rule templates: gRPC methods are request paths
(``/package.Service/Method``), metadata is headers, and backends always speak HTTP/2."""

from __future__ import annotations

from typing import Any

from translator import ir
from translator.gatewayapi.backend import Backends
from translator.gatewayapi.conditions import Reason
from translator.gatewayapi.filters import UnsupportedFilter, header_mutation
from translator.gatewayapi.httproute import (
    RuleTemplate,
    TranslatedRoute,
    check_regex,
    forward_action,
    request_mirror,
    rule_session,
    sticky_rule_action,
)
from translator.gatewayapi.precedence import MatchRank, match_rank
from translator.gatewayapi.referencegrant import ReferenceFrom
from translator.gatewayapi.status import GATEWAY_GROUP
from translator.model import GRPCRoute

# Any gRPC request: every gRPC path has a service and a method segment.
ANY_METHOD = ir.RouteMatch(ir.PathMatch(ir.PathMatchKind.PREFIX, "/"))
_SEGMENT = "[^/]+"


def translate_grpc_route(route: GRPCRoute, backends: Backends) -> TranslatedRoute:
    result = TranslatedRoute(route=route, kind="GRPCRoute")
    source = ReferenceFrom(GATEWAY_GROUP, "GRPCRoute", route.metadata.namespace)
    rules = route.spec.rules or (None,)
    for index, rule in enumerate(rules):
        try:
            result.rules.append(_translate_rule(index, rule, source, backends, result))
        except UnsupportedFilter as problem:
            result.rule_problems.append(f"spec.rules[{index}]: {problem}")
    return result


def _translate_rule(
    index: int, rule: Any, source: ReferenceFrom, backends: Backends, result: TranslatedRoute
) -> RuleTemplate:
    where = f"spec.rules[{index}]"
    if rule is None:  # a GRPCRoute without rules matches every method, and has no backend
        return RuleTemplate(
            index, ((ANY_METHOD, match_rank(ANY_METHOD)),), ir.DirectResponseAction(500)
        )
    matches = tuple(_match(m, f"{where}.matches[{j}]") for j, m in enumerate(rule.matches or ()))
    if not matches:
        matches = ((ANY_METHOD, match_rank(ANY_METHOD)),)
    # gRPC clients send one path per method: the cookie covers the whole host.
    session = rule_session(result, index, [], where, rule)
    request_headers = response_headers = ir.NO_HEADER_MUTATION
    mirrors: list[ir.Mirror] = []
    for k, flt in enumerate(rule.filters or ()):
        kind = str(flt.type)
        if kind == "RequestHeaderModifier":
            request_headers = header_mutation(flt.request_header_modifier)
        elif kind == "ResponseHeaderModifier":
            response_headers = header_mutation(flt.response_header_modifier)
        elif kind == "RequestMirror":
            mirror = request_mirror(flt.request_mirror, source, backends, result)
            if mirror is not None:
                mirrors.append(mirror)
        elif kind == "ExtensionRef":
            ref = flt.extension_ref
            message = (
                f"{where}.filters[{k}]: extensionRef {ref.group}/{ref.kind} {ref.name}"
                " is not supported"
            )
            result.ref_problems.append((Reason.INVALID_KIND, message))
            return RuleTemplate(
                index, matches, ir.DirectResponseAction(500), request_headers, response_headers
            )
        else:
            raise UnsupportedFilter(
                f"{where}.filters[{k}]: filter type {kind} is not supported yet"
            )
    action = forward_action(
        rule,
        where,
        source,
        backends,
        result,
        None,
        None,
        tuple(mirrors),
        ir.UpstreamProtocol.H2C,
        session,
    )
    action = sticky_rule_action(action, result, index, backends)
    return RuleTemplate(index, matches, action, request_headers, response_headers)


def _match(match: Any, where: str) -> tuple[ir.RouteMatch, MatchRank]:
    path = ANY_METHOD.path
    method = match.method
    if method is not None:
        path = _method_path(str(method.type or "Exact"), method.service, method.method, where)
    headers: list[ir.HeaderMatch] = []
    seen: set[str] = set()
    for h in match.headers or ():
        name = h.name.lower()
        if name in seen:
            continue
        seen.add(name)
        kind = ir.StringMatchKind(str(h.type or "Exact"))
        if kind is ir.StringMatchKind.REGEX:
            check_regex(h.value, f"{where}.headers")
        headers.append(ir.HeaderMatch(name, kind, h.value))
    result = ir.RouteMatch(path=path, headers=tuple(headers))
    return result, match_rank(result)


def _method_path(kind: str, service: str | None, method: str | None, where: str) -> ir.PathMatch:
    if kind == "RegularExpression":
        for pattern in (service, method):
            if pattern:
                check_regex(pattern, f"{where}.method")
        return ir.PathMatch(ir.PathMatchKind.REGEX, f"/{service or _SEGMENT}/{method or _SEGMENT}")
    if service and method:
        return ir.PathMatch(ir.PathMatchKind.EXACT, f"/{service}/{method}")
    if service:
        # A regex rather than a prefix: ranked by length with the other method matches, so a
        # named service outranks a method of any service.
        return ir.PathMatch(ir.PathMatchKind.REGEX, f"/{_escape(service)}/{_SEGMENT}")
    if method:
        # Only the method: any service. Dots in names are literal.
        return ir.PathMatch(ir.PathMatchKind.REGEX, f"/{_SEGMENT}/{_escape(method)}")
    return ANY_METHOD.path


def _escape(name: str) -> str:
    return name.replace(".", r"\.")
