"""Enforce AgentgatewayPolicy ``traffic`` settings by folding them into the IR route.

Features the Gateway API already has (header modifiers, timeouts, retry, direct response,
host rewrite, CORS) become the route's own fields, so both data planes enforce them with the
code that serves HTTPRoute filters. CSRF, local rate limits and buffering become new route
fields that stage 2 turns into per-route configs of Envoy's csrf, local_ratelimit and buffer
filters.

Precedence, as agentgateway: a route's inline filters are more specific than any policy, so
for the same setting the inline value wins (per header name for header modifiers, per
timeout, the whole retry, redirect over direct response, the inline CORS filter, the
URLRewrite hostname). A field set by an Override policy wins over the inline value instead.

Pure per route: the result depends only on the route and its merged policy.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from translator import ir
from translator.gatewayapi.filters import cors_policy, header_mutation
from translator.ir.policy import PolicyField
from translator.ir.traffic import (
    BUFFER_FILTER,
    CSRF_FILTER,
    LOCAL_RATE_LIMIT_FILTER,
    TRAFFIC_FILTERS,
    CsrfPolicy,
    LocalRateLimit,
)
from translator.model.duration import parse_duration
from translator.model.filters import CORS
from translator.model.shared import HeaderModifier

_UNIT_SECONDS = {"Seconds": 1.0, "Minutes": 60.0, "Hours": 3600.0}
_Changes = dict[str, Any]
_TIMEOUTS = (("request", "request_timeout"), ("backendRequest", "backend_request_timeout"))


def fold_traffic_policy(route: ir.Route) -> ir.Route:
    """``route`` with its policy's enforceable traffic settings folded in; the same object
    when there is nothing to fold."""
    policy = route.policy
    if policy is None:
        return route
    changes: _Changes = {}
    for name, fold in _FOLDS:
        found = policy.get(name)
        if found is not None:
            fold(route, found, changes)
    return dataclasses.replace(route, **changes) if changes else route


def _action(route: ir.Route, changes: _Changes) -> ir.RouteAction:
    action: ir.RouteAction = changes.get("action", route.action)
    return action


def _forward_change(route: ir.Route, changes: _Changes, **fields: Any) -> None:
    action = _action(route, changes)
    if isinstance(action, ir.ForwardAction):
        changes["action"] = dataclasses.replace(action, **fields)


def _headers(route: ir.Route, found: PolicyField, changes: _Changes) -> None:
    data = found.data()
    for direction in ("request", "response"):
        spec = data.get(direction)
        if spec is None:
            continue
        policy = header_mutation(HeaderModifier.model_validate(spec))
        inline: ir.HeaderMutation = getattr(route, f"{direction}_headers")
        winner, loser = (policy, inline) if found.override else (inline, policy)
        changes[f"{direction}_headers"] = merge_header_mutations(winner, loser)


def merge_header_mutations(
    winner: ir.HeaderMutation, loser: ir.HeaderMutation
) -> ir.HeaderMutation:
    """Both mutations, except that ``loser`` says nothing about a header ``winner`` touches."""
    if loser.is_empty():
        return winner
    taken = {v.name.lower() for v in (*winner.set, *winner.add)} | {
        name.lower() for name in winner.remove
    }
    return ir.HeaderMutation(
        set=winner.set + tuple(v for v in loser.set if v.name.lower() not in taken),
        add=winner.add + tuple(v for v in loser.add if v.name.lower() not in taken),
        remove=winner.remove + tuple(n for n in loser.remove if n.lower() not in taken),
    )


def _timeouts(route: ir.Route, found: PolicyField, changes: _Changes) -> None:
    action = _action(route, changes)
    if not isinstance(action, ir.ForwardAction):
        return
    data = found.data()
    fields: dict[str, float] = {}
    for key, attribute in _TIMEOUTS:
        if key in data and (found.override or getattr(action, attribute) is None):
            fields[attribute] = parse_duration(data[key])
    if fields:
        _forward_change(route, changes, **fields)


def _retry(route: ir.Route, found: PolicyField, changes: _Changes) -> None:
    action = _action(route, changes)
    if not isinstance(action, ir.ForwardAction) or (action.retry and not found.override):
        return
    data = found.data()
    backoff = data.get("backoff")
    retry = ir.RetryPolicy(
        attempts=data.get("attempts", 1),
        status_codes=tuple(data.get("codes", ())),
        backoff_seconds=parse_duration(backoff) if backoff else None,
        precondition=data.get("precondition"),
        condition=data.get("condition"),
    )
    _forward_change(route, changes, retry=retry)


def _direct_response(route: ir.Route, found: PolicyField, changes: _Changes) -> None:
    if isinstance(_action(route, changes), ir.RedirectAction) and not found.override:
        return
    data = found.data()
    changes["action"] = ir.DirectResponseAction(data["status"], data.get("body", ""))


def _host_rewrite(route: ir.Route, found: PolicyField, changes: _Changes) -> None:
    action = _action(route, changes)
    if not isinstance(action, ir.ForwardAction):
        return
    if action.host_rewrite is not None and not found.override:
        return
    if found.data()["mode"] == "None":
        if action.host_rewrite is not None:
            _forward_change(route, changes, host_rewrite=None)
        return
    host = service_host(action)
    if host is not None:
        _forward_change(route, changes, host_rewrite=host)


def service_host(action: ir.ForwardAction) -> str | None:
    """The cluster-local DNS name of the one Service the action sends to (Auto host rewrite);
    None when it sends to several Services or to none."""
    hosts = set()
    for backend in action.backends:
        if backend.cluster is None:
            continue
        kind, _, rest = backend.cluster.partition("/")
        namespace, _, rest = rest.partition("/")
        name = rest.partition("/")[0]
        if kind != "service" or not name:
            return None
        hosts.add(f"{name}.{namespace}.svc.cluster.local")
    return hosts.pop() if len(hosts) == 1 else None


def _cors(route: ir.Route, found: PolicyField, changes: _Changes) -> None:
    if route.cors is None or found.override:
        changes["cors"] = cors_policy(CORS.model_validate(found.data()))


def _csrf(route: ir.Route, found: PolicyField, changes: _Changes) -> None:
    origins = found.data().get("additionalOrigins", ())
    changes["csrf"] = CsrfPolicy(tuple(origin_host(origin) for origin in origins))


def origin_host(origin: str) -> str:
    """ "https://a.example.com:8443/x" -> "a.example.com:8443": what Envoy's csrf filter
    compares (the Origin's host and port, never its scheme)."""
    rest = origin.partition("://")[2] or origin
    return rest.partition("/")[0].lower()


def _rate_limit(route: ir.Route, found: PolicyField, changes: _Changes) -> None:
    limits = [local_rate_limit(entry) for entry in found.data().get("local", ())]
    if limits:
        # One bucket per route: with several limits, the lowest sustained rate is kept.
        changes["local_rate_limit"] = min(
            limits, key=lambda b: (b.tokens_per_fill / b.fill_interval_seconds, b.max_tokens)
        )


def local_rate_limit(entry: dict[str, Any]) -> LocalRateLimit:
    requests = int(entry["requests"])
    return LocalRateLimit(
        max_tokens=requests + int(entry.get("burst") or 0),
        tokens_per_fill=requests,
        fill_interval_seconds=_UNIT_SECONDS[entry["unit"]],
    )


def _buffer(route: ir.Route, found: PolicyField, changes: _Changes) -> None:
    changes["buffer_max_bytes"] = int(found.data()["maxRequestSize"])


# Direct response first: the settings that apply to forwarding then see the final action.
_FOLDS: tuple[tuple[str, Callable[[ir.Route, PolicyField, _Changes], None]], ...] = (
    ("directResponse", _direct_response),
    ("headerModifiers", _headers),
    ("timeouts", _timeouts),
    ("retry", _retry),
    ("hostRewrite", _host_rewrite),
    ("cors", _cors),
    ("csrf", _csrf),
    ("rateLimit", _rate_limit),
    ("buffer", _buffer),
)


def traffic_filters_of(config: ir.RouteConfig) -> tuple[str, ...]:
    """The policy filters some route of ``config`` uses, in chain order."""
    used = set()
    for host in config.virtual_hosts:
        for route in host.routes:
            if route.csrf is not None:
                used.add(CSRF_FILTER)
            if route.local_rate_limit is not None:
                used.add(LOCAL_RATE_LIMIT_FILTER)
            if route.buffer_max_bytes is not None:
                used.add(BUFFER_FILTER)
    return tuple(name for name in TRAFFIC_FILTERS if name in used)


def with_chain_filters(listener: ir.Listener, configs: dict[str, ir.RouteConfig]) -> ir.Listener:
    """``listener`` with each HTTP chain's filters matching its routes after folding (CORS
    may now come from a policy); the same object when nothing changes."""
    chains: list[ir.FilterChain] = []
    for chain in listener.filter_chains:
        config = configs.get(chain.route_config) if isinstance(chain, ir.HttpFilterChain) else None
        if isinstance(chain, ir.HttpFilterChain) and config is not None:
            cors = any(r.cors is not None for h in config.virtual_hosts for r in h.routes)
            filters = traffic_filters_of(config)
            if (cors, filters) != (chain.cors, chain.traffic_filters):
                chain = dataclasses.replace(chain, cors=cors, traffic_filters=filters)
        chains.append(chain)
    if all(a is b for a, b in zip(chains, listener.filter_chains, strict=True)):
        return listener
    return dataclasses.replace(listener, filter_chains=tuple(chains))
