"""Who may fetch a Gateway's configuration: proxy authentication for the ADS server.

A Gateway's xDS holds its TLS private keys and its whole routing, so in a cluster a stream is
served only to the proxies agw provisioned for that Gateway. The ADS server takes an
``Authenticator``; embedded mode (``agw run``, loopback only) passes none and serves anyone.

The choice, for Kubernetes: **ServiceAccount tokens checked with a TokenReview**.

- Each proxy pod mounts a projected ServiceAccount token whose audience is the control
  plane's (``agw-xds``); kubelet rotates it, it expires within the hour, and it is bound to
  the pod, so a deleted pod's token stops working.
- The proxy sends it on every ADS stream as gRPC metadata ``authorization: Bearer <token>``,
  over TLS (the control plane's serving certificate, see ``controlplane.xds.auth_certificates``).
- The control plane asks the API server whether the token is valid and whose it is (an
  ``authentication.k8s.io/v1`` TokenReview with the audience; ``TokenReviewAuthenticator``
  in ``controlplane.xds.auth_tokenreview``). The stream is served only when the
  username is the ServiceAccount provisioned for the Gateway the node names
  (``system:serviceaccount:<namespace>:<name>``): a valid token of another Gateway's proxy,
  or of any other workload, gets ``PERMISSION_DENIED``; a missing or invalid token
  ``UNAUTHENTICATED``; and no response is ever sent before the check passes.
- Reviews are cached by a hash of the token for a short time (a control-plane restart
  reconnects every proxy at once) and concurrent reviews of one token are shared. A stream
  is authorised when it opens, as Istio does; a proxy whose token is revoked keeps its open
  stream until it reconnects.

Rejected alternatives: trusting ``node.metadata`` alone (anyone who reaches the port could
read any Gateway's keys); per-proxy client certificates (agw would need its own signing flow
and rotation, while kubelet already issues and rotates these tokens).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

import grpc

AUTHORIZATION = "authorization"
BEARER = "bearer "


class ProxyRejected(Exception):
    """The stream is refused; ``code`` is the gRPC status the proxy receives."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code


class Authenticator(Protocol):
    async def authenticate(self, metadata: Mapping[str, str], gateway: str) -> None:
        """Return when the caller may receive ``gateway``'s configuration; raise
        ``ProxyRejected`` otherwise. ``metadata`` is the stream's gRPC metadata."""


def bearer_token(metadata: Mapping[str, str]) -> str:
    value = next((v for k, v in metadata.items() if k.lower() == AUTHORIZATION), "")
    if not value.lower().startswith(BEARER):
        return ""
    return value[len(BEARER) :].strip()
