"""``frontend.tracing`` into the IR (``ir.TracingPolicy`` on each listener's connection): the
OTLP collector, a backendRef resolved like a route's (ReferenceGrants from the policy's
namespace) whose cluster the Gateway must carry, spoken to over HTTP/2 for gRPC; the sampling
shares; the span attributes.

A sampling expression that needs no request (``0.25``, ``true``) becomes a share both data
planes apply. Anything else is CEL only the agw proxy evaluates per request: on a Gateway served
by Envoy it falls back to agentgateway's default (no random traces; every sampled client
trace), and the policy's status says so (``envoy_tracing_gaps``). Envoy's samplers also cannot
give sampled client traces a share other than all of them or the random share; the agw proxy
then gets the share as CEL. An unresolvable collector
leaves tracing out, and ``note_unresolved_services`` says so."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from cel import CompileError, constant_value
from translator import ir
from translator.gatewayapi.policy.backendref import PolicyBackendRefs
from translator.ir.connection import CelAttribute, FrontendConnection, Sampling, TracingPolicy
from translator.options import DataPlane
from translator.resources import ResourceSet

_DEFAULT_RANDOM, _DEFAULT_CLIENT = 0.0, 1.0


def apply_tracing(
    gateway: ir.GatewayIR, data_plane: DataPlane, resources: ResourceSet
) -> ir.GatewayIR:
    """``gateway`` with tracing on the listeners whose frontend policy asks for it, and the
    collectors' clusters; the same object when none does."""
    refs = PolicyBackendRefs(resources)
    listeners = tuple(
        _listener(listener, gateway, data_plane, refs) for listener in gateway.listeners
    )
    if all(a is b for a, b in zip(listeners, gateway.listeners, strict=True)):
        return gateway
    return dataclasses.replace(gateway, listeners=listeners, clusters=refs.with_clusters(gateway))


def _listener(
    listener: ir.Listener, gateway: ir.GatewayIR, data_plane: DataPlane, refs: PolicyBackendRefs
) -> ir.Listener:
    found = listener.frontend.get("tracing") if listener.frontend is not None else None
    if found is None:
        return listener
    spec = found.data()
    grpc = spec.get("protocol", "HTTP") == "GRPC"
    ref = spec["backendRef"]
    cluster = refs.resolve(found.origin, ref, ir.UpstreamProtocol.H2C if grpc else None)
    if cluster is None:
        return listener
    envoy = data_plane is DataPlane.ENVOY
    random = _sampling(spec.get("randomSampling"), _DEFAULT_RANDOM, envoy)
    client = _sampling(spec.get("clientSampling"), _DEFAULT_CLIENT, envoy)
    if not _envoy_can_sample(random, client):
        client = _DEFAULT_CLIENT if envoy else str(client)
    attributes = spec.get("attributes") or {}
    namespace = ref.get("namespace") or found.origin.split("/")[1]
    tracing = TracingPolicy(
        cluster=cluster.name,
        authority=f"{ref['name']}.{namespace}:{ref['port']}",
        grpc=grpc,
        service_name=f"{gateway.name}.{gateway.namespace}",
        random_sampling=random,
        client_sampling=client,
        add=tuple(CelAttribute(a["name"], a["expression"]) for a in attributes.get("add", ())),
        remove=tuple(attributes.get("remove", ())),
    )
    connection = listener.connection or FrontendConnection()
    return dataclasses.replace(
        listener, connection=dataclasses.replace(connection, tracing=tracing)
    )


def _sampling(expression: str | None, default: float, envoy: bool) -> Sampling:
    if expression is None:
        return default
    share = constant_share(expression)
    if share is not None:
        return share
    return default if envoy else expression


def _envoy_can_sample(random: Sampling, client: Sampling) -> bool:
    """Whether Envoy's samplers express the shares: sampled client traces all kept (parent
    based) or kept like any other trace (by trace id ratio)."""
    if isinstance(random, str) or isinstance(client, str):
        return True  # CEL, the agw proxy's own sampler
    return client in (_DEFAULT_CLIENT, random)


def constant_share(expression: str) -> float | None:
    """The share in [0, 1] that ``expression`` always gives (a bool counts as 0 or 1); None
    when it depends on the request or is not a share."""
    try:
        value = constant_value(expression)
    except CompileError:
        return None  # the policy's status already names the bad expression
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float) and 0 <= value <= 1:
        return float(value)
    return None


def envoy_tracing_gaps(settings: str | None) -> list[str]:
    """Notes on the sampling expressions of ``settings`` (a policy's ``frontend.tracing``
    JSON) that Envoy cannot evaluate."""
    if settings is None:
        return []
    spec: dict[str, Any] = json.loads(settings)
    gaps = [
        f"frontend.tracing.{key} (CEL that depends on the request; Envoy applies "
        f"{'no random traces' if key == 'randomSampling' else 'every sampled client trace'})"
        for key in ("randomSampling", "clientSampling")
        if key in spec and constant_share(spec[key]) is None
    ]
    random = constant_share(spec.get("randomSampling", "false"))
    client = constant_share(spec.get("clientSampling", "true"))
    if random is not None and client is not None and not _envoy_can_sample(random, client):
        gaps.append(
            "frontend.tracing.clientSampling (Envoy keeps either every sampled client trace "
            "or the randomSampling share of them; it keeps every one)"
        )
    return gaps
