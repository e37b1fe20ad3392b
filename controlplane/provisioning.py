"""Proxy provisioning inside ``agw controlplane --source kubernetes --provisioning FILE``.

``xds_serving`` decides how the ADS server runs: with TLS and TokenReview authentication when
the settings name a CA Secret (``secure_xds``), else plaintext and open.

``ProvisioningLoop`` runs the deployer's ``Provisioner`` when the objects the Gateways want
change (a Gateway, its class or its parameters, or the ListenerSet ports a translation
accepted, which ``translated`` is told after each one), when this replica starts leading, and every
``resync`` seconds (Deployments and the rest are not watched: drift is found there); a pass
that fails or leaves objects alone is retried sooner, with a doubling delay. Passes coalesce:
a burst of requests is one pass over the newest ResourceSet. Every replica runs it; the
Provisioner writes only on the Lease holder.

It also owns the addresses a provisioned Gateway publishes in status.addresses: its Service's,
read from the Kubernetes source's live view (every replica watches Services, so every replica
agrees, leader or not). A Service's load-balancer address arrives as a status-only change,
which the source does not translate for; ``check_addresses`` (a status-change hook) compares
the live addresses with those of the last translation and asks for a new one when they differ.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import grpc
import structlog
from kubernetes_asyncio.client import ApiClient
from kubernetes_asyncio.client.exceptions import ApiException

from controlplane.deployer import (
    Addresses,
    DesiredState,
    GatewayPorts,
    Provisioner,
    ProvisionSettings,
    ReconcileReport,
    desired_state,
    listener_set_ports,
    secure_xds,
    services_addresses,
)
from controlplane.sources.kube import KubeApiError, PermissionDenied
from controlplane.xds.auth import Authenticator
from translator.gatewayapi.status import ObjectId
from translator.model import Service
from translator.resources import ResourceSet

log = structlog.get_logger("agw.provisioning")

DEFAULT_RESYNC_SECONDS = 30.0
DEFAULT_RETRY_SECONDS = 1.0

# (namespace, name) -> the Service as last seen in the cluster, status included.
ServiceLookup = Callable[[str, str], Service | None]


@dataclass(frozen=True)
class XdsServing:
    """How the ADS server runs, and the settings the deployer renders proxies with."""

    settings: ProvisionSettings
    credentials: grpc.ServerCredentials | None = None
    authenticator: Authenticator | None = None


async def xds_serving(api: ApiClient, namespace: str, settings: ProvisionSettings) -> XdsServing:
    """TLS and proxy authentication when ``settings`` name the CA Secret (kept in
    ``namespace``, the control plane's own); plaintext otherwise. A refused or failed read or
    creation of the CA Secret raises ``KubeApiError`` (``PermissionDenied`` for 401/403)."""
    if not settings.xds_ca_secret:
        if settings.xds_ca_certificate:
            raise ValueError(
                "provisioning: xdsCACertificate without xdsCASecret: the control plane "
                "has no key to serve that CA's certificates with"
            )
        log.warning("xDS is plaintext and unauthenticated (no xdsCASecret in the settings)")
        return XdsServing(settings)
    try:
        security = await secure_xds(api, namespace, settings)
    except ApiException as error:
        failure = PermissionDenied if error.status in (401, 403) else KubeApiError
        resource = f"secrets (the xDS CA {namespace}/{settings.xds_ca_secret})"
        raise failure(error.status or 0, "get or create", resource, str(error.reason)) from None
    log.info("xDS uses TLS; proxies authenticate with ServiceAccount tokens")
    return XdsServing(security.settings, security.credentials, security.authenticator)


class ProvisioningLoop:
    def __init__(
        self,
        provisioner: Provisioner,
        resources: Callable[[], ResourceSet],
        lookup: ServiceLookup,
        *,
        resync: float = DEFAULT_RESYNC_SECONDS,
        retry: float = DEFAULT_RETRY_SECONDS,
    ) -> None:
        self.provisioner = provisioner
        self.resources = resources
        self.lookup = lookup
        self.resync = resync
        self.retry = retry
        # Called when a provisioned Gateway's addresses differ from the last translation's.
        self.on_addresses_change: list[Callable[[], None]] = []
        self.passes = 0
        # Consecutive passes that raised or left objects alone (conflicts, refusals).
        self.failures = 0
        self.last_report: ReconcileReport | None = None
        self.last_error = ""
        self._desired: DesiredState | None = None
        self._published: dict[str, Addresses] = {}
        self._listener_set_ports: GatewayPorts = {}
        self._wanted = asyncio.Event()

    @property
    def settings(self) -> ProvisionSettings:
        return self.provisioner.settings

    @property
    def problems(self) -> list[str]:
        report = self.last_report
        found = [f"provisioning: {problem}" for problem in (report.problems if report else [])]
        if self.last_error:
            found.append(f"provisioning failed, retrying: {self.last_error}")
        return found

    def request(self) -> None:
        """Run a pass soon (several requests before it starts are one pass)."""
        self._wanted.set()

    def published_addresses(self, resources: ResourceSet) -> dict[str, Addresses]:
        """What to translate ``resources`` with (``TranslateOptions.published_addresses``).

        Also where a new ResourceSet is first seen: a pass is requested only when the objects
        it wants differ from the last set's, so that a translation for anything else (an
        endpoint moving) costs the API server no lists."""
        desired = desired_state(resources, self.settings, self._listener_set_ports)
        if desired != self._desired:
            self._desired = desired
            self.request()
        self._published = services_addresses(desired.services, self.lookup)
        return self._published

    def translated(self, resources: ResourceSet, statuses: Mapping[ObjectId, Any]) -> None:
        """After a translation of ``resources``: the ListenerSet listeners it accepted, whose
        ports the Services expose; a pass is requested when they changed."""
        ports = listener_set_ports(resources, statuses)
        if ports != self._listener_set_ports:
            self._listener_set_ports = ports
            self._desired = desired_state(resources, self.settings, ports)
            self.request()

    def check_addresses(self) -> None:
        services = self._desired.services if self._desired is not None else {}
        if services_addresses(services, self.lookup) != self._published:
            for hook in self.on_addresses_change:
                hook()

    async def run(self) -> None:
        """Until cancelled: wait for a request or the resync interval, then run a pass."""
        delay = self.resync
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wanted.wait(), delay)
            self._wanted.clear()
            delay = await self._pass()

    async def _pass(self) -> float:
        """One reconcile; returns how long to wait before the next unrequested one."""
        self.passes += 1
        try:
            self.last_report = await self.provisioner.reconcile(
                self.resources(), self._listener_set_ports
            )
            self.last_error = ""
        except Exception as error:  # the API server may be away; the next pass retries
            self.last_error = f"{type(error).__name__}: {error}"
            log.warning("provisioning pass failed", error=self.last_error)
        report = self.last_report
        if not self.last_error and report is not None and not report.problems:
            self.failures = 0
            return self.resync
        self.failures += 1
        return min(self.retry * (1 << min(self.failures - 1, 16)), self.resync)
