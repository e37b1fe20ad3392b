"""The provisioner: makes the cluster's provisioned objects match the desired state.

Each ``reconcile(resources)`` lists the objects agw manages (by label, in every namespace),
creates what is missing, updates in place what differs, and deletes what no Gateway wants
any more. It writes only while ``is_leader()`` says so; every replica may call it, and the
others just return. Callers run it after each translation and periodically (objects that are
not watched, such as Deployments, may drift).

Updates are replacements built from the rendered object and the live one: agw owns the
labels, the spec and the annotations it applied (recorded in ``names.APPLIED_ANNOTATIONS``), while
fields the cluster fills in are carried over (a Service's cluster IP and node ports, the
replica count an autoscaler chose). An object counts as current when everything agw renders
is already there (values the API server canonicalises, such as quantities, compared by
value), so API-server defaults never cause an update loop. A 409 Conflict leaves the object
for the next pass.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import structlog
from kubernetes_asyncio.client import ApiClient
from kubernetes_asyncio.client.exceptions import ApiException

from controlplane.deployer import names
from controlplane.deployer.comparison import is_subset
from controlplane.deployer.desired import Addresses, ObjectRef, desired_state, service_addresses
from controlplane.deployer.kubeapi import PROVISIONED, KubeObjects, Manifest
from controlplane.deployer.listenersets import GatewayPorts
from controlplane.deployer.settings import ProvisionSettings
from translator.resources import ResourceSet

log = structlog.get_logger("agw.deployer")

# Service fields the cluster assigns; a replacement without them would ask for new ones.
_SERVICE_ASSIGNED = (
    "clusterIP",
    "clusterIPs",
    "ipFamilies",
    "ipFamilyPolicy",
    "healthCheckNodePort",
)


@dataclass
class ReconcileReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    # Objects left alone this pass, with the reason (conflicts, refusals, name clashes).
    problems: list[str] = field(default_factory=list)
    leader: bool = True


class Provisioner:
    def __init__(
        self, api: ApiClient, settings: ProvisionSettings, is_leader: Callable[[], bool]
    ) -> None:
        self.objects = KubeObjects(api)
        self.settings = settings
        self.is_leader = is_leader
        # "namespace/name" of a Gateway -> its Service's addresses, after the last pass.
        self.addresses: dict[str, Addresses] = {}
        self._selector = ",".join(
            (
                f"{names.MANAGED_BY_LABEL}={names.MANAGED_BY}",
                f"{names.CONTROLLER_LABEL}={names.label_value(settings.controller_name)}",
            )
        )

    async def reconcile(
        self, resources: ResourceSet, listener_set_ports: GatewayPorts | None = None
    ) -> ReconcileReport:
        """``listener_set_ports``: per Gateway, its accepted ListenerSets' ports (from the
        translation of ``resources``, see ``listenersets.py``)."""
        if not self.is_leader():
            return ReconcileReport(leader=False)
        desired = desired_state(resources, self.settings, listener_set_ports)
        report = ReconcileReport()
        existing = await self._existing()
        for ref, manifest in desired.objects.items():
            current = existing.get(ref)
            try:
                if current is None:
                    existing[ref] = await self.objects.create(manifest)
                    report.created.append(str(ref))
                elif not is_current(manifest, current):
                    existing[ref] = await self.objects.replace(updated(manifest, current))
                    report.updated.append(str(ref))
            except ApiException as error:
                report.problems.append(
                    _problem("create" if current is None else "update", ref, error)
                )
        for ref, current in existing.items():
            owner = (current["metadata"].get("annotations") or {}).get(names.GATEWAY_ANNOTATION)
            if ref in desired.objects or owner in desired.untouched:
                continue
            try:
                await self.objects.delete(current)
                report.deleted.append(str(ref))
            except ApiException as error:
                report.problems.append(_problem("delete", ref, error))
        self.addresses = _addresses(desired.services, existing)
        for problem in report.problems:
            log.warning("provisioning problem", problem=problem)
        if report.created or report.updated or report.deleted:
            log.info(
                "provisioned",
                created=report.created,
                updated=report.updated,
                deleted=report.deleted,
            )
        return report

    async def _existing(self) -> dict[ObjectRef, Manifest]:
        found: dict[ObjectRef, Manifest] = {}
        for resource in PROVISIONED:
            for item in await self.objects.list_matching(resource, self._selector):
                found[ObjectRef.of(item)] = item
        return found


def is_current(desired: Mapping[str, Any], current: Mapping[str, Any]) -> bool:
    """Whether ``current`` already has everything ``desired`` renders."""
    want, have = desired["metadata"], current["metadata"]
    if (want.get("labels") or {}) != (have.get("labels") or {}):
        return False
    annotations = have.get("annotations") or {}
    stale = _applied(have) - set(want.get("annotations") or {})
    if stale & set(annotations) or not is_subset(want.get("annotations") or {}, annotations):
        return False
    if not is_subset(want.get("ownerReferences") or [], have.get("ownerReferences") or []):
        return False
    body = {k: v for k, v in desired.items() if k not in ("apiVersion", "kind", "metadata")}
    return is_subset(body, current)


def updated(desired: Mapping[str, Any], current: Mapping[str, Any]) -> Manifest:
    """The replacement for ``current``: ``desired``, plus what the cluster owns."""
    body: Manifest = copy.deepcopy(dict(desired))
    meta, have = body["metadata"], current["metadata"]
    meta["resourceVersion"] = have.get("resourceVersion", "")
    ours = _applied(have) | {names.APPLIED_ANNOTATIONS}
    kept = {key: value for key, value in (have.get("annotations") or {}).items() if key not in ours}
    meta["annotations"] = {**kept, **meta.get("annotations", {})}
    for key in ("finalizers",):
        if key in have:
            meta[key] = have[key]
    spec, live = body.get("spec"), current.get("spec") or {}
    if isinstance(spec, dict) and body["kind"] == "Service":
        _keep_service_assignments(spec, live)
    # Without replicas in the rendering an autoscaler chooses them: keep its choice.
    autoscaled = isinstance(spec, dict) and "replicas" not in spec and "replicas" in live
    if autoscaled and isinstance(spec, dict) and body["kind"] == "Deployment":
        spec["replicas"] = live["replicas"]
    return body


def _applied(meta: Mapping[str, Any]) -> set[str]:
    recorded = (meta.get("annotations") or {}).get(names.APPLIED_ANNOTATIONS, "")
    return {key for key in str(recorded).split(",") if key}


def _keep_service_assignments(spec: dict[str, Any], live: Mapping[str, Any]) -> None:
    for key in _SERVICE_ASSIGNED:
        if key in live:
            spec[key] = live[key]
    node_ports = {
        (port.get("port"), port.get("protocol", "TCP")): port["nodePort"]
        for port in live.get("ports") or []
        if port.get("nodePort")
    }
    if spec.get("type") in ("NodePort", "LoadBalancer"):
        for port in spec.get("ports") or []:
            assigned = node_ports.get((port.get("port"), port.get("protocol", "TCP")))
            if assigned:
                port["nodePort"] = assigned


def _addresses(
    services: Mapping[str, tuple[str, str]], existing: Mapping[ObjectRef, Manifest]
) -> dict[str, Addresses]:
    found: dict[str, Addresses] = {}
    for gateway, (namespace, name) in services.items():
        service = existing.get(ObjectRef("v1", "Service", namespace, name))
        if service is not None:
            addresses = service_addresses(service)
            if addresses:
                found[gateway] = addresses
    return found


def _problem(action: str, ref: ObjectRef, error: ApiException) -> str:
    if error.status == 409 and action == "create":
        return f"create {ref}: it exists but agw does not manage it; rename or delete it"
    if error.status == 409:
        return f"{action} {ref}: changed meanwhile (409 Conflict); retried on the next pass"
    return f"{action} {ref}: {error.status} {error.reason or ''}".rstrip()
