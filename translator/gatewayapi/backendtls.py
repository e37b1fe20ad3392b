"""BackendTLSPolicy: TLS origination to Services.

A policy targets Services (or one named port of a Service with ``sectionName``). Where
several policies target the same port, the one naming the port wins over one naming the whole
Service, then the oldest, then namespace/name; the others are not Accepted (Conflicted). A
policy whose CA references cannot give one valid certificate never lets traffic through in
plaintext: its backends answer 500."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from translator import ir, naming
from translator.gatewayapi.cabundle import CaProblem, resolve_ca_ref
from translator.gatewayapi.conditions import ConditionType, Reason
from translator.gatewayapi.status import GATEWAY_GROUP, Conditions, ObjectId, PolicyStatus
from translator.model import BackendTLSPolicy, Service
from translator.resources import ResourceSet

POLICY_GROUP_KIND = (GATEWAY_GROUP, "BackendTLSPolicy")


@dataclass
class PolicyVerdict:
    policy: BackendTLSPolicy
    tls: ir.UpstreamTls | None
    ca_bundle: ir.CaBundle | None
    conditions: Conditions = field(default_factory=Conditions)

    @property
    def key(self) -> ObjectId:
        meta = self.policy.metadata
        return ObjectId(GATEWAY_GROUP, "BackendTLSPolicy", meta.namespace, meta.name)


class BackendTlsPolicies:
    def __init__(self, resources: ResourceSet) -> None:
        self.verdicts = [_judge(resources, policy) for policy in resources.backend_tls_policies]
        # (namespace, service, section or "") -> verdicts, best first
        self._targets: dict[tuple[str, str, str], list[PolicyVerdict]] = defaultdict(list)
        for verdict in self.verdicts:
            meta = verdict.policy.metadata
            for ref in verdict.policy.spec.target_refs:
                if (ref.group or "", ref.kind) == ("", "Service"):
                    self._targets[(meta.namespace, ref.name, ref.section_name or "")].append(
                        verdict
                    )
        for verdicts in self._targets.values():
            verdicts.sort(key=_age)

    def candidates(self, namespace: str, service: str, port_name: str) -> list[PolicyVerdict]:
        """Every policy targeting one Service port, the one in force first."""
        return [
            *(self._targets.get((namespace, service, port_name), []) if port_name else []),
            *self._targets.get((namespace, service, ""), []),
        ]

    def for_port(self, namespace: str, service: str, port_name: str) -> PolicyVerdict | None:
        """The policy in force for one Service port; losers are marked Conflicted."""
        candidates = self.candidates(namespace, service, port_name)
        if not candidates:
            return None
        winner, *losers = candidates
        for loser in losers:
            won = winner.policy.metadata
            message = (
                f"BackendTLSPolicy {won.namespace}/{won.name} applies to Service"
                f" {namespace}/{service} instead"
            )
            loser.conditions.set(ConditionType.ACCEPTED, False, Reason.CONFLICTED, message)
        return winner


def _judge(resources: ResourceSet, policy: BackendTLSPolicy) -> PolicyVerdict:
    meta = policy.metadata
    validation = policy.spec.validation
    verdict = PolicyVerdict(policy, None, None)
    conditions = verdict.conditions
    conditions.set(ConditionType.ACCEPTED, True, Reason.ACCEPTED, "Policy is accepted")
    conditions.set(
        ConditionType.RESOLVED_REFS, True, Reason.RESOLVED_REFS, "All references resolved"
    )
    certificates: list[str] = []
    for ref in validation.ca_certificate_refs:
        found = resolve_ca_ref(resources, meta.namespace, ref)
        if isinstance(found, CaProblem):
            conditions.worsen(ConditionType.RESOLVED_REFS, found.reason, found.message)
        else:
            certificates.append(found)
    sans = tuple(_san(san) for san in validation.subject_alt_names) or (
        ir.SubjectAltName("DNS", validation.hostname),
    )
    origin = f"BackendTLSPolicy/{meta.namespace}/{meta.name}"
    if validation.well_known_ca_certificates == "System":
        verdict.tls = ir.UpstreamTls(validation.hostname, None, True, sans, origin=origin)
    elif certificates:
        bundle = ir.CaBundle(naming.ca_bundle(meta.namespace, meta.name), "".join(certificates))
        verdict.ca_bundle = bundle
        verdict.tls = ir.UpstreamTls(validation.hostname, bundle.name, False, sans, origin=origin)
    else:
        conditions.set(
            ConditionType.ACCEPTED,
            False,
            Reason.NO_VALID_CA_CERTIFICATE,
            "no valid CA certificate: requests to its backends are refused",
        )
    return verdict


def _san(san: Any) -> ir.SubjectAltName:
    if str(san.type) == "URI":
        return ir.SubjectAltName("URI", str(san.uri))
    return ir.SubjectAltName("DNS", str(san.hostname))


def _age(verdict: PolicyVerdict) -> tuple[str, str, str]:
    meta = verdict.policy.metadata
    return (meta.creation_timestamp or "", meta.namespace, meta.name)


def policy_statuses(
    verdicts: Iterable[PolicyVerdict],
    ancestors: Mapping[ObjectId, Iterable[tuple[str, str]]],
    controller_name: str,
) -> dict[ObjectId, Any]:
    """Status builders for policies in use by our Gateways (``ancestors``: policy -> the
    namespace/name of each Gateway whose routes reach a Service it governs)."""
    built: dict[ObjectId, Any] = {}
    for verdict in verdicts:
        gateways = sorted(set(ancestors.get(verdict.key, ())))
        if gateways:
            built[verdict.key] = PolicyStatus(
                verdict.policy.metadata.generation, verdict.conditions, gateways, controller_name
            )
    return built


def policy_ancestors(
    gateways: Iterable[tuple[tuple[str, str], Iterable[Any]]],
    resources: ResourceSet,
    policies: BackendTlsPolicies,
) -> dict[ObjectId, set[tuple[str, str]]]:
    """Policy -> the Gateways whose attached routes send traffic to a Service port it governs.
    ``gateways``: (namespace, name) and the routes attached to that Gateway."""
    found: dict[ObjectId, set[tuple[str, str]]] = defaultdict(set)
    if not policies.verdicts:
        return found  # the common case: nothing to walk
    for gateway, routes in gateways:
        for route in routes:
            namespace = route.metadata.namespace
            for ref in _backend_refs(route):
                if (ref.group or "", ref.kind or "Service") != ("", "Service") or ref.port is None:
                    continue
                service_ns = ref.namespace or namespace
                service = resources.get(Service, service_ns, ref.name)
                port = (
                    next((p for p in service.spec.ports if p.port == ref.port), None)
                    if service
                    else None
                )
                if port is None:
                    continue
                policies.for_port(service_ns, ref.name, port.name or "")  # marks losers
                for verdict in policies.candidates(service_ns, ref.name, port.name or ""):
                    found[verdict.key].add(gateway)
    return found


def _backend_refs(route: Any) -> Iterable[Any]:
    for rule in route.spec.rules or ():
        yield from rule.backend_refs or ()
        for flt in getattr(rule, "filters", None) or ():
            mirror = getattr(flt, "request_mirror", None)
            if mirror is not None:
                yield mirror.backend_ref
