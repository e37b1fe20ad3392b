"""Remote JSON Web Key Sets (Envoy's ``remote_jwks``): fetched over HTTP/1.1 from a cluster,
cached for the provider's duration, fetched again when a token names a key the set lacks.

Verification stays synchronous: a request never waits for a fetch. Asking for the keys starts
a fetch in the background when the set is missing, about to expire, or lacks the token's
``kid``; meanwhile (and whenever no fresh set is at hand) the set is empty, so tokens fail
to verify: the provider fails closed. Fetches start at most once per ``REFETCH_INTERVAL``,
so a stream of tokens with unknown key ids cannot flood the key server.

A key server whose cluster has an UpstreamTlsContext is fetched from over TLS, with the
backends' client settings; a failed handshake or certificate check is a failed fetch.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from dataplane.errors import AuthServiceError
from dataplane.extauth_client import http_check
from dataplane.upstream.balancer import pick_endpoint

if TYPE_CHECKING:
    from dataplane.config.jwt_authn import PublicKey

REFETCH_INTERVAL = 1.0
FETCH_TIMEOUT = 5.0
Keys = tuple[tuple[str, "PublicKey"], ...]


class RemoteKeySet:
    """The live key set of one provider; shared by every request on a config."""

    def __init__(
        self,
        cluster: str,
        uri: str,
        cache_seconds: float,
        parse: Callable[[bytes], Keys],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        parts = urlsplit(uri)
        self.cluster = cluster
        self.host = (parts.netloc or cluster).encode("latin-1")
        self.path = ((parts.path or "/") + (f"?{parts.query}" if parts.query else "")).encode()
        self.cache_seconds = cache_seconds
        self.parse = parse
        self.clock = clock
        self.keys: Keys = ()
        self.expires = float("-inf")
        self.last_attempt = float("-inf")
        self.task: asyncio.Task[None] | None = None
        self.clusters: Mapping[str, Any] = {}

    def bind(self, clusters: Mapping[str, Any]) -> None:
        """Fetch through the newest clusters (balancers by name) of the config in use."""
        self.clusters = clusters

    def current(self, kid: str | None) -> Keys:
        """The keys to verify with now (empty while none are fresh); may start a fetch."""
        now = self.clock()
        fresh = now < self.expires
        # Refresh ahead of expiry so a busy provider never sees a gap.
        stale_soon = now >= self.expires - min(self.cache_seconds / 10, 5.0)
        unknown = kid is not None and fresh and all(key_id != kid for key_id, _ in self.keys)
        if stale_soon or unknown:
            self._refresh(now)
        return self.keys if fresh else ()

    def _refresh(self, now: float) -> None:
        if (self.task is not None and not self.task.done()) or (
            now - self.last_attempt < REFETCH_INTERVAL
        ):
            return
        self.last_attempt = now
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self.task = loop.create_task(self._fetch())

    async def _fetch(self) -> None:
        endpoint = pick_endpoint(self.clusters, self.cluster)
        if endpoint is None:
            return  # no endpoint: fail closed
        request = (
            b"GET " + self.path + b" HTTP/1.1\r\nhost: " + self.host + b"\r\n"
            b"accept: application/json\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
        )
        try:
            answer = await asyncio.wait_for(http_check(endpoint, request), FETCH_TIMEOUT)
        except (AuthServiceError, TimeoutError):
            return
        keys = self.parse(answer.body) if answer.status == 200 else ()
        if keys:
            self.keys = keys
            self.expires = self.clock() + self.cache_seconds
