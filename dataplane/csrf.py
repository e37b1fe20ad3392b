"""The csrf HTTP filter on the request path, as Envoy's: a request with an unsafe method
(POST, PUT, DELETE, PATCH) passes only when its Origin (else its Referer) names the request's
own host, or one of the policy's additional origins; otherwise it answers 403 "Invalid origin".
A request with neither header is refused too.

Compared is the origin's host[:port] against the Host the route table matched on, which has
its port stripped when the connection manager says so (agw's always does): as with Envoy, an
Origin that carries a non-default port does not match such a Host."""

from __future__ import annotations

from dataplane.config.csrf import CsrfConfig
from dataplane.request import RequestHead

UNSAFE_METHODS = frozenset((b"POST", b"PUT", b"DELETE", b"PATCH"))
INVALID_ORIGIN = b"Invalid origin"


def is_allowed(policy: CsrfConfig, head: RequestHead) -> bool:
    if head.method not in UNSAFE_METHODS:
        return True
    source = origin_host(head.header(b"origin") or head.header(b"referer") or b"")
    if not source:
        return False
    if source == head.host:
        return True
    return any(matches(source) for matches in policy.additional_origins)


def origin_host(value: bytes) -> bytes:
    """b"https://a.example.com:8443/p" -> b"a.example.com:8443"; a value that is not an
    absolute URL is compared as it is (Envoy's hostAndPort)."""
    scheme, separator, rest = value.partition(b"://")
    if not separator or not scheme or not rest:
        return value
    authority = rest.split(b"/", 1)[0].split(b"?", 1)[0]
    return authority.rpartition(b"@")[2]
