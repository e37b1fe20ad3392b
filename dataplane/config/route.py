"""Compile an ``envoy.config.route.v3.RouteConfiguration`` into a ``RouteTable``."""

from __future__ import annotations

from typing import Any

from envoy.extensions.filters.http.fault.v3 import fault_pb2

from dataplane.config.cors import compile_cors_policy
from dataplane.config.extauth import compile_ext_authz_per_route, is_ext_authz_per_route
from dataplane.config.header_mutation import HeaderOps, compile_level
from dataplane.config.matcher import (
    PathKind,
    compile_header_match,
    compile_path,
    compile_query_match,
    compile_regex,
)
from dataplane.config.policy_auth import compile_route_auth, is_auth_per_route
from dataplane.config.ratelimit_global import compile_route_rate_limits, is_rate_limit_per_route
from dataplane.config.retry_conditions import compile_retry_conditions
from dataplane.config.route_table import (
    ClusterTarget,
    DirectResponse,
    FaultAbort,
    ForwardAction,
    MirrorPolicy,
    RedirectAction,
    RetryPolicy,
    RouteAction,
    RouteEntry,
    RouteTable,
    VirtualHostTable,
    build_route_table,
)
from dataplane.config.session import STATEFUL_SESSION_FILTER, compile_route_session
from dataplane.config.support import check_fields
from dataplane.config.traffic import TRAFFIC_FILTERS, compile_route_traffic
from dataplane.config.values import DENOMINATORS, data_source_bytes, seconds
from dataplane.errors import ConfigRejected, InvalidConfig, UnsupportedField, UnsupportedValue

FAULT_FILTER = "envoy.filters.http.fault"
CORS_FILTER = "envoy.filters.http.cors"
DEFAULT_ROUTE_TIMEOUT = 15.0
_REDIRECT_CODES = {0: 301, 1: 302, 2: 303, 3: 307, 4: 308}
_NOT_FOUND_CODES = {0: 503, 1: 404, 2: 500}
_RETRY_ON = frozenset(
    {"5xx", "gateway-error", "reset", "connect-failure", "retriable-status-codes"}
)


def compile_route_configuration(config: Any) -> RouteTable:
    """See also dataplane.config.route_patch, which compiles a serialized one by the bytes
    that changed."""
    where = f"RouteConfiguration {config.name!r}"
    config_request, config_response = config_header_ops(config, where)
    vhosts: list[tuple[tuple[str, ...], VirtualHostTable]] = []
    previous = _COMPILED.get(config.name, CompiledRoutes())
    compiled = CompiledRoutes()
    for vhost in config.virtual_hosts:
        key = (vhost.SerializeToString(deterministic=True), config_request, config_response)
        entry = previous.hosts.get(key) or compiled.hosts.get(key)
        if entry is None:
            table = compile_virtual_host(
                vhost, config_request, config_response, where, previous, compiled
            )
            entry = (tuple(vhost.domains), table)
        compiled.hosts[key] = entry
        vhosts.append(entry)
    _COMPILED[config.name] = compiled
    return build_route_table(config.name, vhosts)


def config_header_ops(config: Any, where: str) -> tuple[HeaderOps, HeaderOps]:
    """Check a RouteConfiguration's own fields (not its virtual hosts); its request and
    response header operations."""
    check_fields(config, where=where, skip=_VIRTUAL_HOSTS)
    return (
        _level(config, "RouteConfiguration", is_request=True),
        _level(config, "RouteConfiguration", is_request=False),
    )


def compile_virtual_host(
    vhost: Any,
    config_request: HeaderOps,
    config_response: HeaderOps,
    where: str,
    previous: CompiledRoutes,
    compiled: CompiledRoutes,
) -> VirtualHostTable:
    vhost_where = f"{where}, virtual host {vhost.name!r}"
    check_fields(vhost, where=vhost_where, skip=_ROUTES)
    request_ops = _level(vhost, "VirtualHost", is_request=True) + config_request
    response_ops = _level(vhost, "VirtualHost", is_request=False) + config_response
    routes: list[RouteEntry] = []
    for i, route in enumerate(vhost.routes):
        key = (route.SerializeToString(deterministic=True), request_ops, response_ops)
        entry = previous.routes.get(key) or compiled.routes.get(key)
        if entry is None:
            route_where = (
                f"{vhost_where}, route {route.name!r}"
                if route.name
                else f"{vhost_where}, route {i}"
            )
            check_fields(route, where=route_where)
            entry = _compile_route(route, request_ops, response_ops, f"{vhost_where}, route {i}")
        compiled.routes[key] = entry
        routes.append(entry)
    return VirtualHostTable(vhost.name, tuple(routes))


_VIRTUAL_HOSTS = frozenset({"virtual_hosts"})
_ROUTES = frozenset({"routes"})


CompiledHost = tuple[tuple[str, ...], VirtualHostTable]


class CompiledRoutes:
    """Compiled virtual hosts and routes of one RouteConfiguration's latest table, by their
    serialized proto and the header operations around them."""

    def __init__(self) -> None:
        # (its domains, its table) by the host's serialized proto and the header operations.
        self.hosts: dict[tuple[bytes, HeaderOps, HeaderOps], CompiledHost] = {}
        self.routes: dict[tuple[bytes, HeaderOps, HeaderOps], RouteEntry] = {}


# An xDS update usually adds or changes a few routes of a large configuration; compiling
# (and checking) only those, in the parent and in every worker, is what keeps propagation
# time flat as routes grow: at 3,000 virtual hosts, checking and compiling everything again
# cost 0.3 s. A virtual host or route is a pure function of its key.
_COMPILED: dict[str, CompiledRoutes] = {}


def _level(message: Any, path: str, *, is_request: bool) -> HeaderOps:
    direction = "request" if is_request else "response"
    return compile_level(
        getattr(message, f"{direction}_headers_to_add"),
        getattr(message, f"{direction}_headers_to_remove"),
        f"{path}.{direction}_headers_to_add",
        is_request=is_request,
    )


def _compile_route(
    route: Any, outer_request: HeaderOps, outer_response: HeaderOps, where: str
) -> RouteEntry:
    try:
        match = route.match
        path = compile_path(match, "Route.match")
        predicates = tuple(compile_header_match(h, "Route.match.headers") for h in match.headers)
        predicates += tuple(
            compile_query_match(q, "Route.match.query_parameters") for q in match.query_parameters
        )
        request_ops = _level(route, "Route", is_request=True) + outer_request
        response_ops = _level(route, "Route", is_request=False) + outer_response
        per_filter = route.typed_per_filter_config
        path_name = "Route.typed_per_filter_config"
        cors = None
        if CORS_FILTER in per_filter:
            cors = compile_cors_policy(per_filter[CORS_FILTER], f"{path_name}[{CORS_FILTER}]")
        fault = _fault(per_filter, path_name, skip=CORS_FILTER)
        session = (
            compile_route_session(per_filter[STATEFUL_SESSION_FILTER], path_name)
            if STATEFUL_SESSION_FILTER in per_filter
            else None
        )
        ext_authz_settings = [
            (name, compile_ext_authz_per_route(config, f"{path_name}[{name}]"))
            for name, config in sorted(per_filter.items())
            if is_ext_authz_per_route(config)
        ]
        entry = RouteEntry(
            name=route.name,
            path=path,
            predicates=predicates,
            action=_action(route, request_ops, response_ops, fault),
            request_ops=request_ops,
            response_ops=response_ops,
            fault=fault,
            cors=cors,
            ext_authz=tuple((name, on) for name, (on, _) in ext_authz_settings),
            ext_authz_context=tuple((name, ext) for name, (_, ext) in ext_authz_settings if ext),
            session=session,
            auth=compile_route_auth(per_filter, path_name),
            traffic=compile_route_traffic(per_filter, path_name),
            global_rate_limits=compile_route_rate_limits(per_filter, path_name),
        )
    except ConfigRejected as exc:
        raise locate(exc, where) from None
    _check_rewrite_fits(entry)
    return entry


def locate(exc: ConfigRejected, where: str) -> ConfigRejected:
    """The same error, naming the resource it was found in."""
    if isinstance(exc, UnsupportedField):
        return UnsupportedField(exc.field_path, exc.where or where)
    if isinstance(exc, UnsupportedValue):
        return UnsupportedValue(exc.field_path, exc.value, exc.where or where)
    return InvalidConfig(f"{exc} ({where})")


def _check_rewrite_fits(entry: RouteEntry) -> None:
    action = entry.action
    rewrite = getattr(action, "prefix_rewrite", None)
    if rewrite is not None and entry.path.kind is PathKind.REGEX:
        raise InvalidConfig(f"route {entry.name!r}: prefix_rewrite needs a prefix or path match")


def _action(
    route: Any, request_ops: HeaderOps, response_ops: HeaderOps, fault: FaultAbort | None
) -> RouteAction:
    which = route.WhichOneof("action")
    if which == "route":
        return _forward(route.route, request_ops, response_ops, fault)
    if which == "redirect":
        return _redirect(route.redirect)
    if which == "direct_response":
        body = data_source_bytes(route.direct_response.body)
        return DirectResponse(route.direct_response.status, body)
    raise InvalidConfig("Route: one of route, redirect or direct_response is required")


def _forward(
    action: Any, request_ops: HeaderOps, response_ops: HeaderOps, fault: FaultAbort | None
) -> ForwardAction:
    targets = _targets(action, request_ops, response_ops, fault)
    cumulative: list[int] = []
    total = 0
    for target in targets:
        total += target.weight
        cumulative.append(total)
    if total <= 0:
        raise InvalidConfig("RouteAction.weighted_clusters: the total weight must be positive")
    regex_rewrite = None
    if action.HasField("regex_rewrite"):
        pattern = compile_regex(action.regex_rewrite.pattern.regex, "RouteAction.regex_rewrite")
        regex_rewrite = (pattern, action.regex_rewrite.substitution.encode())
    return ForwardAction(
        targets=targets,
        cumulative=tuple(cumulative),
        timeout=seconds(action.timeout) if action.HasField("timeout") else DEFAULT_ROUTE_TIMEOUT,
        retry=_retry(action.retry_policy) if action.HasField("retry_policy") else None,
        mirrors=tuple(_mirror(policy) for policy in action.request_mirror_policies),
        prefix_rewrite=action.prefix_rewrite.encode() if action.prefix_rewrite else None,
        regex_rewrite=regex_rewrite,
        host_rewrite=action.host_rewrite_literal.encode() or None,
        websocket=websocket_setting(action.upgrade_configs, "RouteAction.upgrade_configs"),
        cluster_not_found_status=_NOT_FOUND_CODES[action.cluster_not_found_response_code],
    )


def _targets(
    action: Any, request_ops: HeaderOps, response_ops: HeaderOps, fault: FaultAbort | None
) -> tuple[ClusterTarget, ...]:
    which = action.WhichOneof("cluster_specifier")
    if which == "cluster":
        return (ClusterTarget(action.cluster, 1, request_ops, response_ops, fault),)
    if which != "weighted_clusters":
        raise InvalidConfig("RouteAction: cluster or weighted_clusters is required")
    weighted = action.weighted_clusters
    targets = []
    for cw in weighted.clusters:
        path = "RouteAction.weighted_clusters.clusters"
        weight = cw.weight.value if cw.HasField("weight") else 0
        targets.append(
            ClusterTarget(
                cluster=cw.name,
                weight=weight,
                request_ops=_level(cw, path, is_request=True) + request_ops,
                response_ops=_level(cw, path, is_request=False) + response_ops,
                fault=_fault(cw.typed_per_filter_config, f"{path}.typed_per_filter_config")
                or fault,
            )
        )
    total = sum(t.weight for t in targets)
    if weighted.HasField("total_weight") and weighted.total_weight.value != total:
        raise InvalidConfig("WeightedCluster.total_weight differs from the sum of the weights")
    return tuple(t for t in targets if t.weight > 0) or tuple(targets)


def _fault(per_filter: Any, path: str, skip: str = "") -> FaultAbort | None:
    abort = None
    for name, config in per_filter.items():
        if name in TRAFFIC_FILTERS:  # compiled by compile_route_traffic
            continue
        if name in (skip, STATEFUL_SESSION_FILTER) or is_ext_authz_per_route(config):
            continue
        if is_rate_limit_per_route(config):  # compiled by compile_route_rate_limits
            continue
        if is_auth_per_route(config):
            continue
        if name != FAULT_FILTER:
            raise UnsupportedValue(path, name)
        fault = fault_pb2.HTTPFault()
        if not config.Unpack(fault):
            raise UnsupportedValue(f"{path}[{name}].type_url", config.type_url)
        check_fields(fault, "HTTPFault")
        if not fault.HasField("abort"):
            continue
        if fault.abort.WhichOneof("error_type") != "http_status":
            raise UnsupportedField("HTTPFault.abort.error_type (only http_status)")
        percentage = fault.abort.percentage
        if fault.abort.HasField("percentage"):
            numerator = percentage.numerator
            denominator = DENOMINATORS[percentage.denominator]
        else:
            numerator = denominator = 100
        abort = FaultAbort(fault.abort.http_status, numerator, denominator)
    return abort


def _retry(policy: Any) -> RetryPolicy:
    conditions = {c.strip() for c in policy.retry_on.split(",") if c.strip()}
    for condition in conditions - _RETRY_ON:
        raise UnsupportedValue("RetryPolicy.retry_on", condition)
    base = seconds(policy.retry_back_off.base_interval) if policy.HasField("retry_back_off") else 0
    base = base or 0.025
    max_interval = 0.0
    if policy.HasField("retry_back_off") and policy.retry_back_off.HasField("max_interval"):
        max_interval = seconds(policy.retry_back_off.max_interval)
    codes = frozenset(policy.retriable_status_codes)
    return RetryPolicy(
        num_retries=policy.num_retries.value if policy.HasField("num_retries") else 1,
        on_5xx="5xx" in conditions,
        on_gateway_error="gateway-error" in conditions,
        on_reset="reset" in conditions,
        on_connect_failure="connect-failure" in conditions,
        status_codes=codes if "retriable-status-codes" in conditions else frozenset(),
        per_try_timeout=seconds(policy.per_try_timeout),
        base_interval=base,
        max_interval=max_interval or base * 10,
        conditions=compile_retry_conditions(policy.retry_options_predicates),
    )


def _mirror(policy: Any) -> MirrorPolicy:
    if not policy.HasField("runtime_fraction"):
        return MirrorPolicy(policy.cluster, 100, 100)
    fraction = policy.runtime_fraction.default_value
    return MirrorPolicy(policy.cluster, fraction.numerator, DENOMINATORS[fraction.denominator])


def _redirect(redirect: Any) -> RedirectAction:
    scheme = redirect.scheme_redirect.lower().encode() if redirect.scheme_redirect else None
    if redirect.https_redirect:
        scheme = b"https"
    port = f":{redirect.port_redirect}".encode() if redirect.port_redirect else b""
    return RedirectAction(
        status=_REDIRECT_CODES[redirect.response_code],
        scheme=scheme,
        host=redirect.host_redirect.encode() or None,
        port=port,
        path=redirect.path_redirect.encode() if redirect.HasField("path_redirect") else None,
        prefix_rewrite=(
            redirect.prefix_rewrite.encode() if redirect.HasField("prefix_rewrite") else None
        ),
        strip_query=redirect.strip_query,
    )


def websocket_setting(upgrade_configs: Any, path: str) -> bool | None:
    """The websocket entry of ``upgrade_configs``; other upgrade types are not implemented."""
    setting: bool | None = None
    for upgrade in upgrade_configs:
        if upgrade.upgrade_type.lower() != "websocket":
            raise UnsupportedValue(f"{path}.upgrade_type", upgrade.upgrade_type)
        setting = upgrade.enabled.value if upgrade.HasField("enabled") else True
    return setting
