"""What basic and API-key authentication set beyond Envoy's filters, for the agw proxy
(``ir.AuthOptions`` and the htpasswd users only it verifies), and status notes naming the
htpasswd users who cannot log in.

Optional mode, the basic realm and API-key metadata reach only gateways the agw proxy serves;
on Envoy the policy's status names them (``enforcement.NOT_ENFORCED_ON_ENVOY_PARTS``).

htpasswd hashes: Envoy's basic_auth verifies ``{SHA}`` only; the agw proxy also verifies
bcrypt (``$2a$``, ``$2b$``, ``$2y$``), Apache MD5 (``$apr1$``) and SHA-crypt (``$5$``,
``$6$``), as agentgateway does. Gateways the agw proxy serves get every user whose hash it
verifies, Gateways Envoy serves only the ``{SHA}`` users (``credentials.basic_auth``). A line
in no supported form is left out everywhere. The shapes checked here are the ones the proxy's
parser accepts (``dataplane.htpasswd.parse_hash``): a line it refused would NACK the update."""

from __future__ import annotations

import json
import re

from translator.gatewayapi.policy.credentials import (
    api_key_entries,
    htpasswd_lines,
    is_sha_entry,
    policy_namespace,
)
from translator.gatewayapi.policy.targets import PreparedPolicy
from translator.ir.auth import NOBODY, AuthOptions, BasicAuth
from translator.ir.policy import PolicyField
from translator.resources import ResourceSet

_AGW_HASHES = re.compile(
    r"\{SHA\}[A-Za-z0-9+/]{27}="
    r"|\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}"
    r"|\$apr1\$[./A-Za-z0-9]{1,8}\$[./A-Za-z0-9]{22}"
    r"|\$5\$(rounds=[0-9]{1,9}\$)?[./A-Za-z0-9]{1,16}\$[./A-Za-z0-9]{43}"
    r"|\$6\$(rounds=[0-9]{1,9}\$)?[./A-Za-z0-9]{1,16}\$[./A-Za-z0-9]{86}"
)


def auth_options(
    basic: PolicyField | None, api_key: PolicyField | None, resources: ResourceSet
) -> AuthOptions | None:
    """None when everything set is what Envoy's filters already say."""
    basic_data = basic.data() if basic is not None else {}
    api_data = api_key.data() if api_key is not None else {}
    metadata: tuple[tuple[str, str], ...] = ()
    if api_key is not None:
        found = {client: meta for client, meta in api_key_entries(api_key, resources).values()}
        metadata = tuple(sorted((c, m) for c, m in found.items() if m != "{}"))
    options = AuthOptions(
        basic_optional=basic_data.get("mode") == "Optional",
        basic_realm=basic_data.get("realm") or "",
        api_key_optional=api_data.get("mode") == "Optional",
        api_key_metadata=metadata,
        api_key_sha256=api_data.get("keyHash") == "SHA256",
    )
    return None if options == AuthOptions() else options


def is_agw_entry(line: str) -> bool:
    """A ``user:hash`` line whose hash the agw proxy verifies."""
    user, _, hashed = line.partition(":")
    return bool(user) and _AGW_HASHES.fullmatch(hashed) is not None


def agw_basic_auth(field: PolicyField, resources: ResourceSet) -> BasicAuth:
    """The htpasswd users of a Gateway the agw proxy serves: every one whose hash it verifies,
    the first line of a user named twice (the proxy refuses a second one)."""
    lines = htpasswd_lines(field.data(), policy_namespace(field), resources)
    users: dict[str, str] = {}
    for line in lines:
        if is_agw_entry(line):
            users.setdefault(line.partition(":")[0], line)
    return BasicAuth(tuple(users.values()) or (NOBODY,))


def note_unverifiable_users(prepared: PreparedPolicy, resources: ResourceSet) -> None:
    """Name the users whose hashes no data plane verifies, and those only the agw proxy
    verifies."""
    text = prepared.settings.get("traffic", {}).get("basicAuthentication")
    if text is None:
        return
    namespace = prepared.policy.metadata.namespace
    lines = htpasswd_lines(json.loads(text), namespace, resources)
    nowhere = sorted({line.partition(":")[0] for line in lines if not is_agw_entry(line)})
    agw_only = sorted(
        {line.partition(":")[0] for line in lines if is_agw_entry(line) and not is_sha_entry(line)}
    )
    if nowhere:
        prepared.notes.append(
            "traffic.basicAuthentication: these users have no well-formed {SHA}, bcrypt, $apr1$"
            f" or SHA-crypt hash, they cannot log in: {', '.join(nowhere)}"
        )
    if agw_only:
        prepared.envoy_notes.append(
            "traffic.basicAuthentication: Envoy verifies only {SHA} htpasswd hashes, these users"
            f" cannot log in: {', '.join(agw_only)}"
        )
