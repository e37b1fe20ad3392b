"""``agw echo``'s server: a backend that answers every request with JSON describing it.

HTTP/1.1, HTTP/2 (h2c prior knowledge or ALPN h2) and WebSocket, optionally over TLS, on any
number of addresses in one event loop. Query or header controls (``x-echo-status``,
``x-echo-delay-ms``, ``x-echo-response-header``, ``x-echo-content-type``) let end-to-end tests
provoke gateway behaviour. ``serve_echo`` runs it inside a test's event loop.
"""

from controlplane.echo.errors import ListenAddressInvalid
from controlplane.echo.listener import format_address, parse_listen_address
from controlplane.echo.server import EchoServer, serve_echo

__all__ = [
    "EchoServer",
    "ListenAddressInvalid",
    "format_address",
    "parse_listen_address",
    "serve_echo",
]
