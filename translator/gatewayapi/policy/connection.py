"""Fold AgentgatewayPolicy ``backend`` settings into the clusters they govern (stage 1).

A cluster is shared by every route that sends to it, while backend settings merge along each
route's path (Gateway < listener < route < rule < Service < Service port). An Envoy cluster has
one set of settings, so a cluster carries the fields on which every route sending to it agrees
(with the Service's own settings applied per route first); a cluster no route uses carries its
Service's settings. The folded policy stays on ``ir.Cluster.policy`` for stage 2, which turns
``tcp.keepalive`` and ``health`` into cluster fields; what needs the resources (``tls`` and its
Secret and ConfigMap references) or maps onto existing IR (``http.version``,
``tcp.connectTimeout``) is resolved here.

A ``tls`` whose references do not resolve leaves the cluster without endpoints: its requests
fail (503) rather than travel in plaintext (``backend_refs`` names the reference in the
policy's status). A field the routes of a cluster disagree on is left out of the cluster and
reported to the statuses of the policies that set it (``dropped``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from types import SimpleNamespace
from typing import Any

from translator import ir, naming
from translator.gatewayapi.cabundle import CaProblem, resolve_ca_ref
from translator.gatewayapi.certificate import CertificateProblem, certificate_from_secret
from translator.ir.connection import OutlierDetection, TcpKeepalive
from translator.ir.policy import BackendPolicy, PolicyField, effective_backend_policy
from translator.model import Secret
from translator.model.duration import parse_duration
from translator.resources import ResourceSet

_CLUSTER_DOMAIN = "svc.cluster.local"
# Backend settings applied on each route's backend rather than on the shared cluster
# (``backend_route``): field -> its keys ("*": all of them).
_PER_ROUTE = {"auth": frozenset({"*"}), "http": frozenset({"requestTimeout"})}


def fold_backend_policies(
    gateway: ir.GatewayIR,
    resources: ResourceSet,
    dropped: dict[str, set[str]] | None = None,
) -> ir.GatewayIR:
    """``gateway`` with each cluster's effective backend settings applied; the same object
    when no backend policy reaches any of its clusters. Fields left out of a cluster because
    its routes disagree go into ``dropped`` (policy origin -> messages) for the statuses."""
    route_sides = _route_policies_by_cluster(gateway)
    secrets: dict[str, ir.Secret] = {}
    clusters = []
    for cluster in gateway.clusters:
        policy = _effective(cluster.policy, route_sides.get(cluster.name), cluster.name, dropped)
        folded = cluster if policy is None else _apply(cluster, policy, resources, secrets)
        clusters.append(folded)
    if all(a is b for a, b in zip(clusters, gateway.clusters, strict=True)):
        return gateway
    known = {secret.name for secret in gateway.secrets}
    added = tuple(secrets[name] for name in sorted(secrets) if name not in known)
    return dataclasses.replace(gateway, clusters=tuple(clusters), secrets=gateway.secrets + added)


def _route_policies_by_cluster(
    gateway: ir.GatewayIR,
) -> dict[str, set[BackendPolicy | None]]:
    found: dict[str, set[BackendPolicy | None]] = {}
    for config in gateway.route_configs:
        for host in config.virtual_hosts:
            for route in host.routes:
                if not isinstance(route.action, ir.ForwardAction):
                    continue
                for backend in route.action.backends:
                    if backend.cluster is not None:
                        found.setdefault(backend.cluster, set()).add(route.backend_policy)
    return found


def _effective(
    service: BackendPolicy | None,
    routes: set[BackendPolicy | None] | None,
    cluster: str,
    dropped: dict[str, set[str]] | None,
) -> BackendPolicy | None:
    """The fields every route agrees on for this cluster (each with the Service's applied);
    ``auth`` applies per route (``backend_route``) and needs no agreement."""
    if not routes:
        return service
    each = [effective_backend_policy(route, service) for route in routes]
    first, *rest = [policy.fields if policy is not None else () for policy in each]
    common = tuple(field for field in first if all(field in other for other in rest))
    if dropped is not None:
        for fields in (first, *rest):
            for field in fields:
                if field not in common and _sets_cluster_settings(field):
                    dropped.setdefault(field.origin, set()).add(
                        f"backend.{field.name} not applied to cluster {cluster}: the routes "
                        "sending to it disagree on it, and a cluster has one setting"
                    )
    return BackendPolicy(common) if common else None


def _sets_cluster_settings(field: PolicyField) -> bool:
    per_route = _PER_ROUTE.get(field.name, frozenset())
    return "*" not in per_route and any(key not in per_route for key in field.data())


def _apply(
    cluster: ir.Cluster,
    policy: BackendPolicy,
    resources: ResourceSet,
    secrets: dict[str, ir.Secret],
) -> ir.Cluster:
    changes: dict[str, Any] = {"policy": policy}
    tcp = policy.get("tcp")
    if tcp is not None:
        settings = tcp.data()
        if "connectTimeout" in settings:
            changes["connect_timeout_seconds"] = parse_duration(settings["connectTimeout"])
        if "keepalive" in settings:
            changes["keepalive"] = tcp_keepalive(settings["keepalive"])
    health = policy.get("health")
    if health is not None:
        changes["outlier"] = _outlier(health.data())
    http = policy.get("http")
    version = http.data().get("version") if http is not None else None
    if version is not None:
        changes["protocol"] = (
            ir.UpstreamProtocol.H2C if version == "HTTP2" else ir.UpstreamProtocol.HTTP1
        )
    tls = policy.get("tls")
    if tls is not None:
        upstream = _upstream_tls(cluster, tls, resources, secrets)
        if upstream is None:
            changes["endpoints"] = ()
        else:
            changes["tls"] = upstream
    return dataclasses.replace(cluster, **changes)


def _upstream_tls(
    cluster: ir.Cluster,
    field: PolicyField,
    resources: ResourceSet,
    secrets: dict[str, ir.Secret],
) -> ir.UpstreamTls | None:
    """None when a reference does not resolve."""
    settings = field.data()
    _, namespace, policy_name = field.origin.split("/", 2)
    sni = settings.get("sni") or _service_host(cluster.origin)
    skip = settings.get("insecureSkipVerify")
    ca_secret = None
    if skip != "All" and "caCertificateRef" in settings:
        ref = SimpleNamespace(group="", kind="ConfigMap", name=settings["caCertificateRef"])
        found = resolve_ca_ref(resources, namespace, ref)
        if isinstance(found, CaProblem):
            return None
        ca_secret = naming.ca_bundle(namespace, policy_name, "agentgatewaypolicy")
        secrets[ca_secret] = ir.CaBundle(ca_secret, found)
    client_secret = None
    if "mtlsCertificateRef" in settings:
        secret = resources.get(Secret, namespace, settings["mtlsCertificateRef"])
        pair = certificate_from_secret(secret) if secret is not None else None
        if pair is None or isinstance(pair, CertificateProblem):
            return None
        client_secret = pair.name
        secrets[pair.name] = pair
    return ir.UpstreamTls(
        sni=sni,
        ca_secret=ca_secret,
        system_cas=ca_secret is None and skip != "All",
        subject_alt_names=_subject_alt_names(settings, sni) if skip is None else (),
        client_certificate_secret=client_secret,
        origin=field.origin,
        alpn_protocols=tuple(settings.get("alpnProtocols", ())),
        insecure_skip_verify=skip == "All",
    )


def tcp_keepalive(settings: dict[str, Any]) -> TcpKeepalive:
    return TcpKeepalive(
        probes=settings.get("retries"),
        idle_seconds=_seconds(settings.get("time")),
        interval_seconds=_seconds(settings.get("interval")),
    )


def _outlier(settings: dict[str, Any]) -> OutlierDetection:
    # The model's defaults, for a policy written without them.
    return OutlierDetection(
        consecutive_failures=settings.get("consecutiveFailures", 5),
        interval_seconds=parse_duration(settings.get("interval", "10s")),
        base_ejection_seconds=parse_duration(settings.get("baseEjectionTime", "30s")),
        max_ejection_percent=settings.get("maxEjectionPercent", 10),
    )


def _seconds(text: str | None) -> float | None:
    return parse_duration(text) if text is not None else None


def _subject_alt_names(settings: dict[str, Any], sni: str) -> tuple[ir.SubjectAltName, ...]:
    names: Iterable[str] = settings.get("verifySubjectAltNames") or ([sni] if sni else [])
    return tuple(ir.SubjectAltName("URI" if "://" in n else "DNS", n) for n in names)


def _service_host(origin: str) -> str:
    """``Service/ns/name:port`` -> ``name.ns.svc.cluster.local``: the backend's own name."""
    kind, _, rest = origin.partition("/")
    namespace, _, name_port = rest.partition("/")
    name = name_port.rpartition(":")[0] or name_port
    if kind != "Service" or not namespace or not name:
        return ""
    return f"{name}.{namespace}.{_CLUSTER_DOMAIN}"
