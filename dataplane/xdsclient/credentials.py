"""How the proxy proves who it is to the control plane, and checks who the control plane is:
TLS against a CA bundle, and a bearer token (a projected ServiceAccount token in a cluster)
sent as gRPC metadata on every ADS stream.

Both files are read again for every stream: kubelet rotates the token, and the CA bundle
changes when the control plane's CA does. A token is never sent without TLS.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import grpc

from dataplane.xdsclient.errors import CredentialsUnreadable

AUTHORIZATION = "authorization"


@dataclass(frozen=True, slots=True)
class XdsCredentials:
    ca_file: Path | None = None
    token_file: Path | None = None

    def __post_init__(self) -> None:
        if self.token_file is not None and self.ca_file is None:
            raise ValueError("a token is only sent over TLS: give the CA file too")

    @property
    def is_secure(self) -> bool:
        return self.ca_file is not None

    def channel_credentials(self) -> grpc.ChannelCredentials:
        assert self.ca_file is not None
        return grpc.ssl_channel_credentials(root_certificates=_read(self.ca_file))

    def call_metadata(self) -> tuple[tuple[str, str], ...]:
        if self.token_file is None:
            return ()
        token = _read(self.token_file).decode().strip()
        return ((AUTHORIZATION, f"Bearer {token}"),)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise CredentialsUnreadable(f"cannot read {path}: {error.strerror}") from None
