"""The HTTPRoute ExternalAuth filter (GEP-1494) to an IR ``ExtAuth``: the auth Service is
resolved like any backendRef (ReferenceGrants, missing Services), gRPC always over HTTP/2."""

from __future__ import annotations

import hashlib
from typing import Any

from translator import ir, naming
from translator.gatewayapi.backend import BackendProblem, Backends
from translator.gatewayapi.referencegrant import ReferenceFrom


class ExtAuthUnresolved(Exception):
    """The auth backendRef cannot be used; the rule answers 500 (never unauthenticated)."""


def external_auth(
    spec: Any, source: ReferenceFrom, backends: Backends, problems: list[Any]
) -> ir.ExtAuth:
    """``problems`` collects the (reason, message) of an unresolvable ref, for ResolvedRefs;
    raises ExtAuthUnresolved then."""
    protocol = ir.ExtAuthProtocol(str(spec.protocol))
    forced = ir.UpstreamProtocol.H2C if protocol is ir.ExtAuthProtocol.GRPC else None
    resolved = backends.resolve(source, spec.backend_ref, forced)
    if isinstance(resolved, BackendProblem):
        problems.append((resolved.reason, f"externalAuth: {resolved.message}"))
        raise ExtAuthUnresolved(resolved.message)
    if resolved.blocked:
        raise ExtAuthUnresolved("the auth service's BackendTLSPolicy gives no valid trust")
    ref = spec.backend_ref
    namespace = ref.namespace or source.namespace
    settings = _settings(spec, protocol)
    return ir.ExtAuth(
        name=naming.ext_auth_filter(resolved.cluster.name, _digest(protocol, settings)),
        cluster=resolved.cluster.name,
        protocol=protocol,
        authority=f"{ref.name}.{namespace}:{ref.port}",
        **settings,
    )


def _settings(spec: Any, protocol: ir.ExtAuthProtocol) -> dict[str, Any]:
    allowed: tuple[str, ...] = ()
    response_headers: tuple[str, ...] = ()
    path_prefix = ""
    if protocol is ir.ExtAuthProtocol.GRPC and spec.grpc is not None:
        allowed = tuple(name.lower() for name in spec.grpc.allowed_headers)
    if protocol is ir.ExtAuthProtocol.HTTP and spec.http is not None:
        allowed = tuple(name.lower() for name in spec.http.allowed_headers)
        response_headers = tuple(name.lower() for name in spec.http.allowed_response_headers)
        path_prefix = spec.http.path or ""
    max_body = spec.forward_body.max_size if spec.forward_body is not None else None
    return {
        "path_prefix": path_prefix,
        "allowed_headers": allowed,
        "allowed_response_headers": response_headers,
        # The API: a maxSize of 0 forwards no body.
        "max_body_bytes": max_body or None,
    }


def _digest(protocol: ir.ExtAuthProtocol, settings: dict[str, Any]) -> str:
    """Stable across translations and processes (unlike hash()), so filter names are too."""
    text = repr((protocol.value, sorted(settings.items())))
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def ext_auths_of(config: ir.RouteConfig) -> tuple[ir.ExtAuth, ...]:
    """The distinct external-auth settings a route configuration's routes use, by name."""
    found = {
        route.ext_auth.name: route.ext_auth
        for host in config.virtual_hosts
        for route in host.routes
        if route.ext_auth is not None
    }
    return tuple(found[name] for name in sorted(found))
