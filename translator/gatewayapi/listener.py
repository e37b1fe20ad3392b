"""Gateway listeners: protocol support, allowed route kinds, TLS certificates, conflicts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from translator.gatewayapi.certificate import CertificateProblem, resolve_certificate
from translator.gatewayapi.conditions import ConditionType, Reason
from translator.gatewayapi.hostname import covers, specificity
from translator.gatewayapi.owner import ListenerOwner
from translator.gatewayapi.referencegrant import ReferenceGrants
from translator.gatewayapi.status import GATEWAY_GROUP, ListenerStatus
from translator.ir import CaBundle, ClientValidation, TlsCertificate
from translator.model import Gateway
from translator.resources import ResourceSet

# Route kinds each listener protocol can carry today; other protocols arrive with their issue.
SUPPORTED_KINDS: dict[str, tuple[str, ...]] = {
    "HTTP": ("HTTPRoute", "GRPCRoute"),
    "HTTPS": ("HTTPRoute", "GRPCRoute"),
    "TLS": ("TLSRoute",),
    "TCP": ("TCPRoute",),
    "UDP": ("UDPRoute",),
}
# A TCP or UDP listener has nothing to choose between routes by: it carries one.
_EXCLUSIVE_PROTOCOLS = frozenset({"TCP", "UDP"})
# Protocols that may share a port: both select a filter chain by SNI.
_SNI_PROTOCOLS = frozenset({"HTTPS", "TLS"})


@dataclass
class Attachment:
    """A route attached to a listener, with the hostnames it serves there."""

    route: Any
    hostnames: tuple[str, ...]


@dataclass
class GatewayListener:
    gateway: Gateway
    # The Gateway itself, or the ListenerSet that added this listener to it.
    owner: ListenerOwner
    name: str
    port: int
    protocol: str
    hostname: str | None
    allowed_routes: Any
    kinds: tuple[str, ...]
    status: ListenerStatus
    certificates: tuple[TlsCertificate, ...] = ()
    # "Terminate" or "Passthrough" for HTTPS and TLS listeners.
    tls_mode: str | None = None
    # Client-certificate validation (GEP-91) and the CAs it trusts, when configured.
    client_validation: ClientValidation | None = None
    client_ca_bundle: CaBundle | None = None
    # By id() of the route: one attachment per route, however many parentRefs select us.
    attachments: dict[int, Attachment] = field(default_factory=dict)

    @property
    def accepts_routes(self) -> bool:
        """Routes may attach (and count) even if certificates are broken; not if the listener
        itself is rejected."""
        return self.status.conditions.is_true(ConditionType.ACCEPTED)

    @property
    def section(self) -> str:
        """Unique within the Gateway: ListenerSet listeners carry their set's name (used in
        Envoy resource names)."""
        if self.owner.is_gateway:
            return self.name
        return f"{self.owner.namespace}/{self.owner.name}/{self.name}"

    @property
    def exclusive(self) -> bool:
        return self.protocol in _EXCLUSIVE_PROTOCOLS

    @property
    def programmable(self) -> bool:
        return self.status.conditions.is_true(ConditionType.PROGRAMMED)


def translate_listeners(
    resources: ResourceSet, grants: ReferenceGrants, gateway: Gateway
) -> list[GatewayListener]:
    owner = ListenerOwner("Gateway", gateway.metadata.namespace, gateway.metadata.name)
    listeners = [
        translate_listener(resources, grants, gateway, owner, spec)
        for spec in gateway.spec.listeners
    ]
    mark_conflicts(listeners)
    return listeners


def translate_listener(
    resources: ResourceSet,
    grants: ReferenceGrants,
    gateway: Gateway,
    owner: ListenerOwner,
    spec: Any,
) -> GatewayListener:
    status = ListenerStatus(name=spec.name)
    conditions = status.conditions
    conditions.set(ConditionType.ACCEPTED, True, Reason.ACCEPTED, "Listener is accepted")
    conditions.set(ConditionType.CONFLICTED, False, Reason.NO_CONFLICTS, "No conflicts")
    conditions.set(ConditionType.PROGRAMMED, True, Reason.PROGRAMMED, "Listener is programmed")
    conditions.set(
        ConditionType.RESOLVED_REFS, True, Reason.RESOLVED_REFS, "All references resolved"
    )
    listener = GatewayListener(
        gateway=gateway,
        owner=owner,
        name=spec.name,
        port=spec.port,
        protocol=str(spec.protocol),
        hostname=spec.hostname or None,
        allowed_routes=spec.allowed_routes,
        kinds=(),
        status=status,
    )
    supported = SUPPORTED_KINDS.get(listener.protocol)
    if supported is None:
        _reject(
            listener, Reason.UNSUPPORTED_PROTOCOL, f"protocol {listener.protocol} is not supported"
        )
        return listener
    listener.kinds = _route_kinds(listener, supported)
    status.supported_kinds = [(GATEWAY_GROUP, kind) for kind in listener.kinds]
    if listener.protocol in ("HTTPS", "TLS"):
        _resolve_tls(resources, grants, listener, spec.tls)
    return listener


def _route_kinds(listener: GatewayListener, supported: tuple[str, ...]) -> tuple[str, ...]:
    requested = listener.allowed_routes.kinds if listener.allowed_routes else None
    if not requested:
        return supported
    kinds: list[str] = []
    invalid: list[str] = []
    for ref in requested:
        group = ref.group if ref.group is not None else GATEWAY_GROUP
        if group == GATEWAY_GROUP and ref.kind in supported:
            if ref.kind not in kinds:
                kinds.append(ref.kind)
        else:
            invalid.append(f"{group}/{ref.kind}")
    if invalid:
        listener.status.conditions.set(
            ConditionType.RESOLVED_REFS,
            False,
            Reason.INVALID_ROUTE_KINDS,
            f"route kinds {', '.join(invalid)} are not supported on a {listener.protocol} listener",
        )
    return tuple(kinds)


def _resolve_tls(
    resources: ResourceSet, grants: ReferenceGrants, listener: GatewayListener, tls: Any
) -> None:
    conditions = listener.status.conditions
    if tls is None:
        _reject(listener, Reason.INVALID, f"a {listener.protocol} listener needs tls")
        return
    listener.tls_mode = str(tls.mode or "Terminate")
    if listener.tls_mode == "Passthrough":
        if listener.protocol != "TLS":
            _reject(listener, Reason.UNSUPPORTED_VALUE, "tls.mode Passthrough needs protocol TLS")
        return  # the backend terminates: no certificate here
    certificates: list[TlsCertificate] = []
    for ref in tls.certificate_refs or ():
        resolved = resolve_certificate(resources, grants, listener.owner, ref)
        if isinstance(resolved, CertificateProblem):
            conditions.worsen(ConditionType.RESOLVED_REFS, resolved.reason, resolved.message)
        else:
            certificates.append(resolved)
    listener.certificates = tuple(certificates)
    if not certificates:
        if conditions.is_true(ConditionType.RESOLVED_REFS):
            conditions.set(
                ConditionType.RESOLVED_REFS,
                False,
                Reason.INVALID_CERTIFICATE_REF,
                "no certificateRefs given",
            )
        conditions.set(
            ConditionType.PROGRAMMED, False, Reason.INVALID, "Listener has no valid certificate"
        )


def _reject(listener: GatewayListener, reason: Reason, message: str) -> None:
    conditions = listener.status.conditions
    conditions.set(ConditionType.ACCEPTED, False, reason, message)
    conditions.set(ConditionType.PROGRAMMED, False, Reason.INVALID, message)


def mark_conflicts(listeners: Sequence[GatewayListener]) -> None:
    """First listener wins a port's protocol and a hostname; later ones are Conflicted.
    Gateway listeners come first, then ListenerSets' (oldest set first), so running this
    again over the merged list leaves the Gateway's own verdicts as they were."""
    winners: dict[tuple[int, bool], list[GatewayListener]] = {}
    for listener in listeners:
        if not listener.accepts_routes:
            continue
        # UDP and TCP-based protocols may share a port number: they are different sockets.
        earlier = winners.setdefault((listener.port, listener.protocol == "UDP"), [])
        reason = _conflict_with(listener, earlier)
        if reason is None:
            earlier.append(listener)
            continue
        message = (
            f"port {listener.port} is already used by another protocol"
            if reason is Reason.PROTOCOL_CONFLICT
            else f"hostname {listener.hostname or '(any)'} on port {listener.port} is already used"
        )
        listener.status.conditions.set(ConditionType.CONFLICTED, True, reason, message)
        _reject(listener, reason, message)


def _conflict_with(listener: GatewayListener, earlier: Sequence[GatewayListener]) -> Reason | None:
    for other in earlier:
        same_family = (
            other.protocol == listener.protocol
            or {other.protocol, listener.protocol} <= _SNI_PROTOCOLS
        )
        if not same_family:
            return Reason.PROTOCOL_CONFLICT
    for other in earlier:
        if other.hostname == listener.hostname:
            return Reason.HOSTNAME_CONFLICT
    return None


def most_specific_listener(
    listeners: Sequence[GatewayListener], hostname: str
) -> GatewayListener | None:
    """The listener whose hostname covers ``hostname`` most specifically: listener isolation
    gives a hostname's routes to that listener alone."""
    best: GatewayListener | None = None
    for listener in listeners:
        if covers(listener.hostname, hostname) and (
            best is None or specificity(listener.hostname) > specificity(best.hostname)
        ):
            best = listener
    return best
