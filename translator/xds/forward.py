"""Forwarding routes: backends (single, weighted, partly invalid), timeouts, retries, mirrors,
rewrites and WebSocket upgrades, as an Envoy RouteAction.

Timeouts. Gateway API's ``request`` timeout bounds the whole exchange, ``backendRequest`` each
attempt. Without a retry policy there is exactly one attempt, so the route ``timeout`` is the
tighter of the two (0 meaning "none"). With a retry policy, ``request`` becomes the route
``timeout`` and ``backendRequest`` the retry policy's ``per_try_timeout``; if only
``backendRequest`` is set, the whole exchange keeps Envoy's default bound (15 s).
"""

from __future__ import annotations

from envoy.config.core.v3 import base_pb2
from envoy.config.route.v3 import route_components_pb2 as route_pb2
from envoy.extensions.filters.http.fault.v3 import fault_pb2
from envoy.type.v3 import percent_pb2
from google.protobuf import duration_pb2, wrappers_pb2
from google.protobuf.message import Message

from translator.ir import ForwardAction, Mirror, PathMatch, RetryPolicy, WeightedBackend
from translator.xds.cluster import INVALID_BACKEND_CLUSTER
from translator.xds.extensions import FAULT_FILTER, WEBSOCKET, pack
from translator.xds.header_mutation import apply_request_mutation, apply_response_mutation
from translator.xds.path_rewrite import apply_to_route_action
from translator.xds.retry_conditions import build_retry_conditions

INVALID_BACKEND_STATUS = 500

_DENOMINATORS = {
    100: percent_pb2.FractionalPercent.HUNDRED,
    10_000: percent_pb2.FractionalPercent.TEN_THOUSAND,
    1_000_000: percent_pb2.FractionalPercent.MILLION,
}


def has_valid_backend(action: ForwardAction) -> bool:
    """False when no request could reach a backend: the route must answer 500 itself."""
    return any(backend.cluster is not None for backend in _receiving(action))


def needs_invalid_backend_cluster(action: ForwardAction) -> bool:
    receiving = _receiving(action)
    return has_valid_backend(action) and any(backend.cluster is None for backend in receiving)


def build_route_action(action: ForwardAction, match: PathMatch) -> Message:
    """The caller answers 500 itself unless ``has_valid_backend(action)``."""
    built = route_pb2.RouteAction()
    _set_backends(built, _receiving(action))
    timeout = _route_timeout(action)
    if timeout is not None:
        built.timeout.CopyFrom(_duration(timeout))
    if action.retry is not None:
        built.retry_policy.CopyFrom(_retry_policy(action.retry, action.backend_request_timeout))
    built.request_mirror_policies.extend(_mirror_policy(mirror) for mirror in action.mirrors)
    if action.host_rewrite is not None:
        built.host_rewrite_literal = action.host_rewrite
    if action.path_rewrite is not None:
        apply_to_route_action(built, action.path_rewrite, match)
    if action.allow_websocket:
        built.upgrade_configs.append(
            route_pb2.RouteAction.UpgradeConfig(
                upgrade_type=WEBSOCKET, enabled=wrappers_pb2.BoolValue(value=True)
            )
        )
    return built


def _receiving(action: ForwardAction) -> list[WeightedBackend]:
    return [backend for backend in action.backends if backend.weight > 0]


def _set_backends(built: Message, backends: list[WeightedBackend]) -> None:
    only = backends[0]
    if len(backends) == 1 and only.request_headers.is_empty() and only.response_headers.is_empty():
        built.cluster = only.cluster
        return
    weighted = route_pb2.WeightedCluster(
        clusters=[_cluster_weight(backend) for backend in backends if backend.cluster is not None]
    )
    invalid_weight = sum(backend.weight for backend in backends if backend.cluster is None)
    if invalid_weight:
        weighted.clusters.append(_invalid_share(invalid_weight))
    built.weighted_clusters.CopyFrom(weighted)


def _cluster_weight(backend: WeightedBackend) -> Message:
    built = route_pb2.WeightedCluster.ClusterWeight(
        name=backend.cluster, weight=wrappers_pb2.UInt32Value(value=backend.weight)
    )
    apply_request_mutation(built, backend.request_headers)
    apply_response_mutation(built, backend.response_headers)
    return built


def _invalid_share(weight: int) -> Message:
    # The fault filter runs before the router and reads the per-filter config of the
    # weighted entry that was picked, so this share is answered 500 and never forwarded.
    abort = fault_pb2.HTTPFault(
        abort=fault_pb2.FaultAbort(
            http_status=INVALID_BACKEND_STATUS,
            percentage=percent_pb2.FractionalPercent(
                numerator=100, denominator=percent_pb2.FractionalPercent.HUNDRED
            ),
        ),
    )
    built = route_pb2.WeightedCluster.ClusterWeight(
        name=INVALID_BACKEND_CLUSTER, weight=wrappers_pb2.UInt32Value(value=weight)
    )
    built.typed_per_filter_config[FAULT_FILTER].CopyFrom(pack(abort))
    return built


def _route_timeout(action: ForwardAction) -> float | None:
    if action.retry is not None:
        return action.request_timeout
    set_timeouts = [
        t for t in (action.request_timeout, action.backend_request_timeout) if t is not None
    ]
    if not set_timeouts:
        return None
    bounded = [t for t in set_timeouts if t > 0]
    return min(bounded) if bounded else 0.0


def _retry_policy(retry: RetryPolicy, per_try_timeout: float | None) -> Message:
    conditions = ["retriable-status-codes"] if retry.status_codes else []
    if retry.retry_on_connect_failure:
        conditions += ["connect-failure", "reset"]
    built = route_pb2.RetryPolicy(
        retry_on=",".join(conditions),
        num_retries=wrappers_pb2.UInt32Value(value=retry.attempts),
        retriable_status_codes=list(retry.status_codes),
    )
    if retry.backoff_seconds:
        built.retry_back_off.base_interval.CopyFrom(_duration(retry.backoff_seconds))
    if per_try_timeout:
        built.per_try_timeout.CopyFrom(_duration(per_try_timeout))
    if retry.precondition or retry.condition:
        built.retry_options_predicates.append(build_retry_conditions(retry))
    return built


def _mirror_policy(mirror: Mirror) -> Message:
    return route_pb2.RouteAction.RequestMirrorPolicy(
        cluster=mirror.cluster,
        runtime_fraction=base_pb2.RuntimeFractionalPercent(
            default_value=fractional_percent(mirror.numerator, mirror.denominator)
        ),
    )


def fractional_percent(numerator: int, denominator: int) -> Message:
    """Envoy knows three denominators; any other fraction is scaled to per-million."""
    if denominator in _DENOMINATORS:
        return percent_pb2.FractionalPercent(
            numerator=numerator, denominator=_DENOMINATORS[denominator]
        )
    per_million = round(numerator * 1_000_000 / denominator) if denominator > 0 else 0
    return percent_pb2.FractionalPercent(
        numerator=per_million, denominator=percent_pb2.FractionalPercent.MILLION
    )


def _duration(seconds: float) -> Message:
    duration = duration_pb2.Duration()
    duration.FromNanoseconds(round(seconds * 1_000_000_000))
    return duration
