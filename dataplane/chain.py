"""What a request on one filter chain needs, resolved once per config apply.

A connection reads its chain's current ``HttpChain`` when a request's headers are complete and
keeps it for that whole exchange: new requests see a new config, in-flight ones finish on the
old one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from dataplane.access_log import AccessLog
from dataplane.config.listener import HttpSettings
from dataplane.config.route_table import RouteTable
from dataplane.upstream.balancer import ClusterBalancer


@dataclass(frozen=True, slots=True)
class HttpChain:
    settings: HttpSettings
    routes: RouteTable | None
    clusters: Mapping[str, ClusterBalancer]
    access_log: AccessLog | None = None
    server_line: bytes = field(default=b"")
    # "http" or "https", for x-forwarded-proto and redirects.
    scheme: bytes = b"http"

    def __post_init__(self) -> None:
        if not self.server_line:
            object.__setattr__(
                self, "server_line", b"server: " + self.settings.server_name + b"\r\n"
            )
