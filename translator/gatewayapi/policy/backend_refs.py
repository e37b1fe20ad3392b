"""Status notes for AgentgatewayPolicy ``backend`` references that do not resolve.

A ``backend.tls`` whose CA ConfigMap or client-certificate Secret is missing or unusable stays
in effect, failing closed (``connection``: its clusters get no endpoints, so requests answer
503 rather than travel in plaintext); a ``backend.auth`` Secret that is missing sends no
credentials (``backend_route``). Either way the policy's status names the reference, so the
failure is not silent."""

from __future__ import annotations

import json
from types import SimpleNamespace

from translator.gatewayapi.cabundle import CaProblem, resolve_ca_ref
from translator.gatewayapi.certificate import CertificateProblem, certificate_from_secret
from translator.gatewayapi.policy.backend_route import missing_auth_secret
from translator.gatewayapi.policy.targets import PreparedPolicy
from translator.model import Secret
from translator.resources import ResourceSet


def note_unresolved_backend_refs(prepared: PreparedPolicy, resources: ResourceSet) -> None:
    backend = prepared.settings.get("backend", {})
    namespace = prepared.policy.metadata.namespace
    if "tls" in backend:
        prepared.notes += _tls_problems(json.loads(backend["tls"]), namespace, resources)
    if "auth" in backend:
        problem = missing_auth_secret(json.loads(backend["auth"]), namespace, resources)
        if problem is not None:
            prepared.notes.append(problem)


def _tls_problems(settings: dict[str, str], namespace: str, resources: ResourceSet) -> list[str]:
    failing = "connections to its backends fail (503) rather than go unencrypted"
    problems = []
    ca_name = settings.get("caCertificateRef")
    if ca_name is not None and settings.get("insecureSkipVerify") != "All":
        ref = SimpleNamespace(group="", kind="ConfigMap", name=ca_name)
        found = resolve_ca_ref(resources, namespace, ref)
        if isinstance(found, CaProblem):
            problems.append(
                f"backend.tls.caCertificateRef: ConfigMap {namespace}/{ca_name}: "
                f"{found.message}; {failing}"
            )
    secret_name = settings.get("mtlsCertificateRef")
    if secret_name is not None:
        secret = resources.get(Secret, namespace, secret_name)
        pair = certificate_from_secret(secret) if secret is not None else None
        if pair is None or isinstance(pair, CertificateProblem):
            why = "does not exist" if secret is None else _why(pair)
            problems.append(
                f"backend.tls.mtlsCertificateRef: Secret {namespace}/{secret_name} {why}; {failing}"
            )
    return problems


def _why(pair: object) -> str:
    return pair.message if isinstance(pair, CertificateProblem) else "holds no certificate"
