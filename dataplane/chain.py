"""What a request on one filter chain needs, resolved once per config apply.

A connection reads its chain's current ``HttpChain`` when a request's headers are complete and
keeps it for that whole exchange: new requests see a new config, in-flight ones finish on the
old one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dataplane.access_log import AccessLog
from dataplane.config.listener import HttpSettings
from dataplane.config.route_table import RouteTable
from dataplane.http2.codec import DEFAULT_CODEC_SETTINGS, CodecSettings
from dataplane.upstream.balancer import ClusterBalancer

if TYPE_CHECKING:
    # Loaded only where a configuration has tracing (it brings the OTLP messages).
    from dataplane.span_export import SpanExporter


@dataclass(frozen=True, slots=True)
class HttpChain:
    settings: HttpSettings
    routes: RouteTable | None
    clusters: Mapping[str, ClusterBalancer]
    access_log: AccessLog | None = None
    # Where recorded spans go, when ``settings.tracing`` is set.
    spans: SpanExporter | None = None
    server_line: bytes = field(default=b"")
    # "http" or "https", for x-forwarded-proto and redirects.
    scheme: bytes = b"http"
    # The server header as an HTTP/2 field.
    server_field: tuple[bytes, bytes] = (b"server", b"")
    # What an HTTP/2 connection on this chain advertises.
    http2: CodecSettings = DEFAULT_CODEC_SETTINGS

    def __post_init__(self) -> None:
        settings = self.settings
        if settings.jwt_authn is not None:
            for provider in settings.jwt_authn.providers.values():
                if provider.remote is not None:
                    provider.remote.bind(self.clusters)
        name = settings.server_name
        if not self.server_line:
            object.__setattr__(self, "server_line", b"server: " + name + b"\r\n")
        object.__setattr__(self, "server_field", (b"server", name))
        options = settings.http2
        object.__setattr__(
            self,
            "http2",
            CodecSettings(
                max_concurrent_streams=options.max_concurrent_streams,
                stream_window=options.stream_window,
                connection_window=options.connection_window,
                max_frame_size=options.max_frame_size,
                # HPACK counts 32 bytes per field on top of its name and value.
                max_header_list_size=settings.max_request_headers_bytes
                + 32 * settings.max_headers_count,
            ),
        )
