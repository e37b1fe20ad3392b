"""Credentials of AgentgatewayPolicy authentication settings, resolved into IR: JWT providers
with inline key sets, htpasswd users given inline or in a Secret, API keys in Secrets (by name
or label), all in the policy's namespace.

A Secret that is missing, or holds no usable entry, yields credentials nobody can match, so a
route that asks for authentication never opens up by mistake."""

from __future__ import annotations

import json
import re
from typing import Any

from translator.ir.auth import NOBODY, ApiKeyAuth, BasicAuth, JwtAuthn, JwtMode, JwtProvider
from translator.ir.policy import PolicyField
from translator.model import Secret
from translator.resources import ResourceSet

_SHA256_HEX = re.compile(r"[0-9a-fA-F]{64}")

HTACCESS_KEY = ".htaccess"


def policy_namespace(field: PolicyField) -> str:
    """The namespace of the policy that set ``field`` ("AgentgatewayPolicy/ns/name")."""
    return field.origin.split("/")[1]


def basic_auth(field: PolicyField, resources: ResourceSet, agw: bool) -> BasicAuth | None:
    """None for Optional mode on Envoy, whose filter cannot express it (the status says so)."""
    data = field.data()
    if data.get("mode", "Strict") != "Strict" and not agw:
        return None
    lines = htpasswd_lines(data, policy_namespace(field), resources)
    users = tuple(line for line in lines if is_sha_entry(line))
    return BasicAuth(users or (NOBODY,))


def htpasswd_lines(data: dict[str, Any], namespace: str, resources: ResourceSet) -> list[str]:
    """The inline users, then the Secret's non-empty lines."""
    lines: list[str] = list(data.get("users", ()))
    secret_name = data.get("secretRef")
    if secret_name:
        secret = resources.get(Secret, namespace, secret_name)
        content = secret.value(HTACCESS_KEY) if secret is not None else None
        text = content.decode("utf-8", "replace") if content else ""
        lines += [line.strip() for line in text.splitlines() if line.strip()]
    return lines


def jwt_authn(field: PolicyField) -> JwtAuthn:
    """Providers with a remote key set are left out here; ``jwks`` adds them."""
    data = field.data()
    providers = tuple(
        _jwt_provider(f"{field.origin}/{index}", provider)
        for index, provider in enumerate(data["providers"])
        if "inline" in provider["jwks"]
    )
    return JwtAuthn(field.origin, JwtMode(data.get("mode", "Strict")), providers)


def _jwt_provider(name: str, data: dict[str, Any]) -> JwtProvider:
    locations = data.get("tokenLocations", ())
    return JwtProvider(
        name=name,
        issuer=data["issuer"],
        audiences=tuple(data.get("audiences", ())),
        jwks=data["jwks"]["inline"],
        headers=tuple((t["header"], t.get("prefix", "")) for t in locations if "header" in t),
        params=tuple(t["queryParameter"] for t in locations if "queryParameter" in t),
        cookies=tuple(t["cookie"] for t in locations if "cookie" in t),
    )


def api_key_auth(field: PolicyField, resources: ResourceSet, agw: bool) -> ApiKeyAuth | None:
    """None for Optional mode on Envoy, whose filter cannot express it (the status says so).
    With ``keyHash`` the Secrets hold SHA-256 digests (hex) of the keys: the agw proxy hashes
    what clients present (``AuthOptions.api_key_sha256``), Envoy cannot, so on Envoy nobody
    gets in (the status says so). An entry that is not a digest is left out."""
    data = field.data()
    if data.get("mode", "Strict") != "Strict" and not agw:
        return None
    hashed = bool(data.get("keyHash"))
    if hashed and not agw:
        return ApiKeyAuth(())
    entries = api_key_entries(field, resources)
    if hashed:
        entries = {k.lower(): v for k, v in entries.items() if _SHA256_HEX.fullmatch(k)}
    return ApiKeyAuth(tuple(sorted(((k, c) for k, (c, _) in entries.items()), key=lambda i: i[1])))


def api_key_entries(field: PolicyField, resources: ResourceSet) -> dict[str, tuple[str, str]]:
    """key -> (client "secret/entry", its metadata as a JSON object) from the selected
    Secrets; the first Secret (by name) and entry holding a key wins."""
    data = field.data()
    namespace = policy_namespace(field)
    secrets: list[Secret] = []
    if data.get("secretRef"):
        found = resources.get(Secret, namespace, data["secretRef"])
        secrets += [found] if found is not None else []
    selector = (data.get("secretSelector") or {}).get("matchLabels")
    if selector:
        secrets += [
            s
            for s in resources.secrets
            if s.metadata.namespace == namespace
            and all(s.metadata.labels.get(k) == v for k, v in selector.items())
        ]
    entries: dict[str, tuple[str, str]] = {}
    for secret in sorted(secrets, key=lambda s: s.metadata.name):
        for entry in sorted(secret.data.keys() | secret.string_data.keys()):
            key, metadata = _api_key(secret.value(entry) or b"")
            if key:
                entries.setdefault(key, (f"{secret.metadata.name}/{entry}", metadata))
    return entries


def _api_key(content: bytes) -> tuple[str, str]:
    """An entry is the key itself, or JSON ``{"key": ..., "metadata": {...}}``: the key and
    the metadata as canonical JSON ("{}" when none)."""
    text = content.decode("utf-8", "replace").strip()
    if not text.startswith("{"):
        return text, "{}"
    try:
        parsed = json.loads(text)
    except ValueError:
        return "", "{}"
    key = parsed.get("key") if isinstance(parsed, dict) else None
    if not isinstance(key, str):
        return "", "{}"
    metadata = parsed.get("metadata")
    metadata = metadata if isinstance(metadata, dict) else {}
    return key, json.dumps(metadata, sort_keys=True, separators=(",", ":"))


def is_sha_entry(line: str) -> bool:
    """Envoy's filter verifies only ``{SHA}`` hashes; other entries cannot log in."""
    user, _, hashed = line.partition(":")
    return bool(user) and hashed.startswith("{SHA}") and len(hashed) == 33
