"""What basic and API-key authentication set beyond Envoy's filters, for the agw proxy
(``ir.AuthOptions``), and a status note naming the htpasswd users nobody can log in as.

Optional mode, the basic realm and API-key metadata reach only gateways the agw proxy serves;
on Envoy the policy's status names them (``enforcement.NOT_ENFORCED_ON_ENVOY_PARTS``). Neither
data plane verifies htpasswd hashes other than ``{SHA}`` (bcrypt, apr1 and crypt need a
library agw does not ship): those users are left out, so they cannot log in, and the status
says who they are."""

from __future__ import annotations

import json

from translator.gatewayapi.policy.credentials import (
    api_key_entries,
    htpasswd_lines,
    is_sha_entry,
)
from translator.gatewayapi.policy.targets import PreparedPolicy
from translator.ir.auth import AuthOptions
from translator.ir.policy import PolicyField
from translator.resources import ResourceSet


def auth_options(
    basic: PolicyField | None, api_key: PolicyField | None, resources: ResourceSet
) -> AuthOptions | None:
    """None when everything set is what Envoy's filters already say."""
    basic_data = basic.data() if basic is not None else {}
    api_data = api_key.data() if api_key is not None else {}
    metadata: tuple[tuple[str, str], ...] = ()
    if api_key is not None and not api_data.get("keyHash"):
        found = {client: meta for client, meta in api_key_entries(api_key, resources).values()}
        metadata = tuple(sorted((c, m) for c, m in found.items() if m != "{}"))
    options = AuthOptions(
        basic_optional=basic_data.get("mode") == "Optional",
        basic_realm=basic_data.get("realm") or "",
        api_key_optional=api_data.get("mode") == "Optional",
        api_key_metadata=metadata,
    )
    return None if options == AuthOptions() else options


def note_unverifiable_users(prepared: PreparedPolicy, resources: ResourceSet) -> None:
    text = prepared.settings.get("traffic", {}).get("basicAuthentication")
    if text is None:
        return
    namespace = prepared.policy.metadata.namespace
    lines = htpasswd_lines(json.loads(text), namespace, resources)
    users = sorted({line.partition(":")[0] for line in lines if not is_sha_entry(line)})
    if users:
        prepared.notes.append(
            "traffic.basicAuthentication: only {SHA} htpasswd hashes are verified, these users"
            f" cannot log in: {', '.join(users)}"
        )
