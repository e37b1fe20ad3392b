"""Names and labels of the objects agw provisions for a Gateway.

A Gateway name may be 253 characters long and contain dots; a Service name must be a DNS-1035
label (a letter first, at most 63 characters, no dots) and a label value at most 63 characters.
Every provisioned object of a Gateway shares one name, ``agw-<gateway>``: readable when it
fits, and otherwise cut short with a hash of the full Gateway name appended, so that distinct
Gateways never share a name. The same hashing keeps label values valid.
"""

from __future__ import annotations

import hashlib
import re

from translator.model import Gateway

NAME_PREFIX = "agw-"
MAX_NAME = 63
_HASH_LENGTH = 8
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")

# Labels on every provisioned object; the first two select the proxy pods.
PROXY_APP = "agw-proxy"
APP_NAME_LABEL = "app.kubernetes.io/name"
GATEWAY_NAME_LABEL = "gateway.networking.k8s.io/gateway-name"
GATEWAY_CLASS_LABEL = "gateway.networking.k8s.io/gateway-class-name"
INSTANCE_LABEL = "app.kubernetes.io/instance"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "agw"
CONTROLLER_LABEL = "agentgateway.dev/controller"
# "namespace/name" of the Gateway an object was provisioned for (label values cannot hold it).
GATEWAY_ANNOTATION = "agentgateway.dev/gateway"
# The annotation keys agw set from the Gateway and its parameters, comma-separated: on an
# update, those no longer wanted are removed and annotations others added are kept.
APPLIED_ANNOTATIONS = "agentgateway.dev/applied-annotations"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:_HASH_LENGTH]


def provisioned_name(gateway_name: str) -> str:
    """The name of every object provisioned for the Gateway ``gateway_name``."""
    readable = NAME_PREFIX + gateway_name.replace(".", "-")
    if len(readable) <= MAX_NAME and "." not in gateway_name:
        return readable
    # Dots replaced ("a.b" and "a-b" would collide) or too long: the hash tells them apart.
    head = readable[: MAX_NAME - _HASH_LENGTH - 1].rstrip("-")
    return f"{head}-{_digest(gateway_name)}"


def label_value(text: str) -> str:
    """``text`` when it is a valid label value, else a shortened form with a hash suffix."""
    if len(text) <= MAX_NAME and _LABEL_VALUE.fullmatch(text):
        return text
    head = re.sub(r"[^-A-Za-z0-9_.]", "-", text)[: MAX_NAME - _HASH_LENGTH - 1]
    head = head.lstrip("-_.")
    return f"{head}-{_digest(text)}" if head else _digest(text)


def selector_labels(gateway: Gateway) -> dict[str, str]:
    """Labels that select a Gateway's proxy pods (immutable in a Deployment: never change)."""
    return {
        APP_NAME_LABEL: PROXY_APP,
        GATEWAY_NAME_LABEL: label_value(gateway.metadata.name),
    }


def service_account_username(gateway: str) -> str:
    """The Kubernetes username of the ServiceAccount provisioned for ``gateway``
    ("namespace/name"): what a TokenReview of its proxies' tokens must return."""
    namespace, _, name = gateway.partition("/")
    return f"system:serviceaccount:{namespace}:{provisioned_name(name)}"
