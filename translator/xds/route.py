"""RDS: route configurations, virtual hosts, routes and their matches.

Gateway API path matching on Envoy: prefix ``/`` is Envoy's ``prefix: "/"``; any other prefix is
``path_separated_prefix`` (segment aware: ``/foo`` matches ``/foo`` and ``/foo/x``, never
``/foobar``); Exact is ``path``; RegularExpression is ``safe_regex`` with Envoy's default engine
(RE2; the explicit ``google_re2`` field is deprecated in Envoy's API).
"""

from __future__ import annotations

from collections.abc import Iterator

from envoy.config.core.v3 import base_pb2
from envoy.config.route.v3 import route_components_pb2 as route_pb2
from envoy.config.route.v3 import route_pb2 as route_config_pb2
from envoy.type.matcher.v3 import regex_pb2, string_pb2
from google.protobuf.message import Message

from translator.ir import (
    ForwardAction,
    HeaderMatch,
    HeaderMutation,
    PathMatch,
    PathMatchKind,
    QueryParamMatch,
    RedirectAction,
    Route,
    RouteConfig,
    RouteMatch,
    StringMatchKind,
    VirtualHost,
)
from translator.memo import IdentityMemo
from translator.xds.cors import build_cors_policy
from translator.xds.extauth import build_ext_authz_per_route
from translator.xds.extensions import CORS_FILTER, STATEFUL_SESSION_FILTER, pack
from translator.xds.forward import INVALID_BACKEND_STATUS, build_route_action, has_valid_backend
from translator.xds.header_mutation import apply_response_mutation, header_options
from translator.xds.metadata import origin_metadata
from translator.xds.policy_auth import add_auth_per_route
from translator.xds.policy_ratelimit import build_rate_limit_per_route
from translator.xds.policy_traffic import add_traffic_per_route
from translator.xds.redirect import build_redirect
from translator.xds.session import build_session_per_route

# (route name, cluster name) for every cluster a route forwards or mirrors to.
ClusterReferences = tuple[tuple[str, str], ...]


def build_route_configuration(
    config: RouteConfig, *, listener_port: int, listener_scheme: str
) -> Message:
    """``listener_port`` and ``listener_scheme`` are those of the listener serving ``config``;
    redirects that keep the request's port or scheme need them. translator.xds.built_routes
    builds the same configuration serialized, reusing the hosts of earlier translations."""
    memo = ProtoMemo()
    return route_config_pb2.RouteConfiguration(
        name=config.name,
        virtual_hosts=[
            build_virtual_host(
                host, listener_port=listener_port, listener_scheme=listener_scheme, memo=memo
            )
            for host in config.virtual_hosts
        ],
    )


def cluster_references(host: Message) -> Iterator[tuple[str, str]]:
    """(route name, cluster name) for every cluster a route of ``host`` forwards or mirrors
    to."""
    for route in host.routes:
        if not route.HasField("route"):
            continue
        action = route.route
        if action.cluster:
            yield route.name, action.cluster
        for weighted in action.weighted_clusters.clusters:
            yield route.name, weighted.name
        for mirror in action.request_mirror_policies:
            yield route.name, mirror.cluster


class ProtoMemo:
    """Protos shared by many routes of one configuration, built once: the matches of a rule
    share one IR action object, and many routes share an origin."""

    def __init__(self, built_routes: IdentityMemo[Message] | None = None) -> None:
        self.built_routes = built_routes if built_routes is not None else IdentityMemo()
        self.actions: dict[tuple[int, PathMatch | None], Message] = {}
        self.origins: dict[str, Message] = {}
        self.mutations: dict[int, list[Message]] = {}

    def route_action(self, action: ForwardAction, path: PathMatch) -> Message:
        # A path rewrite depends on the match; everything else only on the action.
        key = (id(action), path if action.path_rewrite is not None else None)
        built = self.actions.get(key)
        if built is None:
            built = self.actions[key] = build_route_action(action, path)
        return built

    def request_headers(self, mutation: HeaderMutation) -> list[Message]:
        """The header options of a rule's request modifier, shared by its matches."""
        built = self.mutations.get(id(mutation))
        if built is None:
            built = self.mutations[id(mutation)] = header_options(mutation)
        return built

    def origin(self, origin: str) -> Message:
        built = self.origins.get(origin)
        if built is None:
            built = self.origins[origin] = origin_metadata(origin)
        return built


def build_virtual_host(
    host: VirtualHost, *, listener_port: int, listener_scheme: str, memo: ProtoMemo
) -> Message:
    return route_pb2.VirtualHost(
        name=host.name,
        domains=list(host.domains),
        routes=[
            _built_route(
                route, listener_port=listener_port, listener_scheme=listener_scheme, memo=memo
            )
            for route in host.routes
        ],
    )


def _built_route(
    route: Route, *, listener_port: int, listener_scheme: str, memo: ProtoMemo
) -> Message:
    built = memo.built_routes.get(route, (listener_port, listener_scheme))
    if built is None:
        built = build_route(
            route, listener_port=listener_port, listener_scheme=listener_scheme, memo=memo
        )
        memo.built_routes.put(route, built, (listener_port, listener_scheme))
    return built


def build_route(
    route: Route, *, listener_port: int, listener_scheme: str, memo: ProtoMemo | None = None
) -> Message:
    memo = memo if memo is not None else ProtoMemo()
    built = route_pb2.Route(name=route.name, match=build_match(route.match))
    action = route.action
    if isinstance(action, ForwardAction):
        if has_valid_backend(action):
            built.route.CopyFrom(memo.route_action(action, route.match.path))
        else:
            built.direct_response.CopyFrom(_direct_response(INVALID_BACKEND_STATUS, ""))
    elif isinstance(action, RedirectAction):
        built.redirect.CopyFrom(
            build_redirect(
                action,
                route.match.path,
                listener_port=listener_port,
                listener_scheme=listener_scheme,
            )
        )
    else:
        built.direct_response.CopyFrom(_direct_response(action.status_code, action.body))
    if not route.request_headers.is_empty():
        built.request_headers_to_add.extend(memo.request_headers(route.request_headers))
        built.request_headers_to_remove.extend(route.request_headers.remove)
    apply_response_mutation(built, route.response_headers)
    if route.origin:
        built.metadata.CopyFrom(memo.origin(route.origin))
    if route.cors is not None:
        built.typed_per_filter_config[CORS_FILTER].CopyFrom(pack(build_cors_policy(route.cors)))
    if route.ext_auth is not None:
        built.typed_per_filter_config[route.ext_auth.name].CopyFrom(
            build_ext_authz_per_route(route.ext_auth)
        )
    if isinstance(route.action, ForwardAction) and route.action.session is not None:
        built.typed_per_filter_config[STATEFUL_SESSION_FILTER].CopyFrom(
            build_session_per_route(route.action.session)
        )
    add_traffic_per_route(built, route)
    add_auth_per_route(built, route)
    if route.global_rate_limit is not None:
        limit = route.global_rate_limit
        per_route = build_rate_limit_per_route(limit)
        built.typed_per_filter_config[limit.service.name].CopyFrom(per_route)
    return built


def build_match(match: RouteMatch) -> Message:
    built = route_pb2.RouteMatch(
        headers=[_header_matcher(header) for header in match.headers],
        query_parameters=[_query_matcher(param) for param in match.query_params],
    )
    _set_path(built, match.path)
    return built


def _set_path(built: Message, path: PathMatch) -> None:
    if path.kind is PathMatchKind.EXACT:
        built.path = path.value
    elif path.kind is PathMatchKind.REGEX:
        built.safe_regex.CopyFrom(regex_pb2.RegexMatcher(regex=path.value))
    elif path.value.rstrip("/"):
        # Envoy rejects a trailing slash here; stage 1 strips it already, this keeps it so.
        built.path_separated_prefix = path.value.rstrip("/")
    else:
        built.prefix = "/"


def _header_matcher(header: HeaderMatch) -> Message:
    return route_pb2.HeaderMatcher(
        name=header.name, string_match=_string_matcher(header.kind, header.value)
    )


def _query_matcher(param: QueryParamMatch) -> Message:
    return route_pb2.QueryParameterMatcher(
        name=param.name, string_match=_string_matcher(param.kind, param.value)
    )


def _string_matcher(kind: StringMatchKind, value: str) -> Message:
    if kind is StringMatchKind.REGEX:
        return string_pb2.StringMatcher(safe_regex=regex_pb2.RegexMatcher(regex=value))
    return string_pb2.StringMatcher(exact=value)


def _direct_response(status: int, body: str) -> Message:
    built = route_pb2.DirectResponseAction(status=status)
    if body:
        built.body.CopyFrom(base_pb2.DataSource(inline_string=body))
    return built
