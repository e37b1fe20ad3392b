"""CA certificate references (BackendTLSPolicy and frontend client validation): ConfigMaps
or Secrets holding PEM certificates under ``ca.crt``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cryptography import x509

from translator.gatewayapi.conditions import Reason
from translator.model import ConfigMap, Secret
from translator.resources import ResourceSet

CA_KEY = "ca.crt"


@dataclass(frozen=True, slots=True)
class CaProblem:
    reason: Reason
    message: str


def resolve_ca_ref(resources: ResourceSet, namespace: str, ref: Any) -> str | CaProblem:
    """The PEM certificates one reference names, or why they cannot be used. ``namespace`` is
    where a reference without its own namespace points (cross-namespace grants are the
    caller's business)."""
    group = ref.group or ""
    kind = ref.kind
    name = ref.name
    ns = getattr(ref, "namespace", None) or namespace
    where = f"{kind} {ns}/{name}"
    text: str | None
    if group != "" or kind not in ("ConfigMap", "Secret"):
        return CaProblem(
            Reason.INVALID_KIND,
            f"{group or 'core'}/{kind} {name}: CA certificates come from a ConfigMap or a Secret",
        )
    if kind == "ConfigMap":
        config_map = resources.get(ConfigMap, ns, name)
        if config_map is None:
            return CaProblem(Reason.INVALID_CA_CERTIFICATE_REF, f"{where} does not exist")
        text = config_map.data.get(CA_KEY)
    else:
        secret = resources.get(Secret, ns, name)
        if secret is None:
            return CaProblem(Reason.INVALID_CA_CERTIFICATE_REF, f"{where} does not exist")
        raw = secret.value(CA_KEY)
        text = raw.decode("utf-8", "replace") if raw is not None else None
    if not text:
        return CaProblem(Reason.INVALID_CA_CERTIFICATE_REF, f"{where} has no {CA_KEY}")
    try:
        if not x509.load_pem_x509_certificates(text.encode()):
            raise ValueError("empty")
    except ValueError:
        return CaProblem(
            Reason.INVALID_CA_CERTIFICATE_REF, f"{where}: {CA_KEY} is not PEM certificates"
        )
    return text
