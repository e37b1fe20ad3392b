"""AgentgatewayPolicy ``backend`` settings that Envoy expresses on routes rather than clusters
(stage 1): ``auth`` and ``http.requestTimeout``.

Unlike the cluster settings (``connection``), these need no agreement between the routes that
share a cluster: each route's backend carries its own effective settings (the route's merged
with its Service's, ``effective_backend_policy``).

- ``auth.key`` / ``auth.secretRef``: the backend's request headers set ``Authorization`` (a
  ClusterWeight's ``request_headers_to_add`` in Envoy; the agw proxy applies the same field).
  A Secret that does not exist or lacks the ``Authorization`` key sends no credentials; the
  policy's status names it (``missing_auth_secret``).
- ``auth.passthrough``: both data planes keep a validated JWT on the request already
  (``jwt_authn`` providers forward it), so the client's token reaches the backend unchanged.
- ``http.requestTimeout``: the route's backend request timeout (Envoy Gateway's mapping: the
  retry policy's ``per_try_timeout`` when the route retries, else the route timeout) where the
  route sets none itself and its backends agree.

Must run before ``fold_backend_policies``, which replaces each cluster's Service policy with
what the routes agree on."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from translator import ir
from translator.ir.policy import BackendPolicy, effective_backend_policy
from translator.model import Secret
from translator.model.duration import parse_duration
from translator.resources import ResourceSet

AUTHORIZATION = "Authorization"


def fold_backend_route_settings(gateway: ir.GatewayIR, resources: ResourceSet) -> ir.GatewayIR:
    """``gateway`` with backend auth headers and request timeouts on its routes; the same
    object when no route changes."""
    services = {cluster.name: cluster.policy for cluster in gateway.clusters}
    if not any(services.values()) and not _any_route_policy(gateway):
        return gateway
    configs = tuple(_route_config(config, services, resources) for config in gateway.route_configs)
    if all(a is b for a, b in zip(configs, gateway.route_configs, strict=True)):
        return gateway
    return dataclasses.replace(gateway, route_configs=configs)


def missing_auth_secret(
    settings: dict[str, str], namespace: str, resources: ResourceSet
) -> str | None:
    """Why a policy's ``backend.auth`` (its settings, the policy's namespace) sends nothing,
    or None."""
    name = settings.get("secretRef")
    if name is None or _secret_value(resources, namespace, name) is not None:
        return None
    return (
        f"backend.auth.secretRef: Secret {namespace}/{name} does not exist or has no "
        f"{AUTHORIZATION} key: no credentials are sent"
    )


def _any_route_policy(gateway: ir.GatewayIR) -> bool:
    return any(
        route.backend_policy is not None
        for config in gateway.route_configs
        for host in config.virtual_hosts
        for route in host.routes
    )


def _route_config(
    config: ir.RouteConfig,
    services: Mapping[str, BackendPolicy | None],
    resources: ResourceSet,
) -> ir.RouteConfig:
    return ir.map_routes(config, lambda route: _route(route, services, resources))


def _route(
    route: ir.Route, services: Mapping[str, BackendPolicy | None], resources: ResourceSet
) -> ir.Route:
    action = route.action
    if not isinstance(action, ir.ForwardAction):
        return route
    policies = [
        effective_backend_policy(route.backend_policy, services.get(b.cluster))
        if b.cluster is not None
        else None
        for b in action.backends
    ]
    if not any(policies):
        return route
    backends = tuple(
        _with_auth(backend, policy, resources)
        for backend, policy in zip(action.backends, policies, strict=True)
    )
    timeout = action.backend_request_timeout
    if timeout is None:
        timeout = _agreed_timeout(policies)
    if timeout == action.backend_request_timeout and all(
        a is b for a, b in zip(backends, action.backends, strict=True)
    ):
        return route
    changed = dataclasses.replace(action, backends=backends, backend_request_timeout=timeout)
    return dataclasses.replace(route, action=changed)


def _with_auth(
    backend: ir.WeightedBackend, policy: BackendPolicy | None, resources: ResourceSet
) -> ir.WeightedBackend:
    field = policy.get("auth") if policy is not None else None
    if field is None:
        return backend
    settings = field.data()
    value = settings.get("key")
    if "secretRef" in settings:
        value = _secret_value(resources, field.origin.split("/", 2)[1], settings["secretRef"])
    if value is None:
        return backend
    mutation = backend.request_headers
    kept = tuple(h for h in mutation.set if h.name.lower() != AUTHORIZATION.lower())
    headers = dataclasses.replace(mutation, set=(*kept, ir.HeaderValue(AUTHORIZATION, value)))
    return dataclasses.replace(backend, request_headers=headers)


def _agreed_timeout(policies: list[BackendPolicy | None]) -> float | None:
    found = set()
    for policy in policies:
        field = policy.get("http") if policy is not None else None
        text = field.data().get("requestTimeout") if field is not None else None
        found.add(parse_duration(text) if text is not None else None)
    return found.pop() if len(found) == 1 else None


def _secret_value(resources: ResourceSet, namespace: str, name: str) -> str | None:
    secret = resources.get(Secret, namespace, name)
    value = secret.value(AUTHORIZATION) if secret is not None else None
    if value is None:
        return None
    try:
        return value.decode()
    except UnicodeDecodeError:
        return None
