"""``TokenReviewAuthenticator``: ServiceAccount tokens verified by the API server (the design
and its reasons are in ``controlplane.xds.auth``). Kept apart so that embedded mode never
imports the Kubernetes client."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence

import grpc
from kubernetes_asyncio.client import (
    ApiClient,
    AuthenticationV1Api,
    V1TokenReview,
    V1TokenReviewSpec,
)
from kubernetes_asyncio.client.exceptions import ApiException

from controlplane.xds.auth import ProxyRejected, bearer_token


class TokenReviewAuthenticator:
    def __init__(
        self,
        api: ApiClient,
        expected_username: Callable[[str], str | None],
        *,
        audiences: Sequence[str],
        cache_seconds: float = 60.0,
        cache_size: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``expected_username(gateway)``: the username a proxy of ``gateway``
        ("namespace/name") must have, or None when no proxy may serve it."""
        self._reviews = AuthenticationV1Api(api)
        self._expected = expected_username
        self._audiences = list(audiences)
        self._cache_seconds = cache_seconds
        self._cache_size = cache_size
        self._clock = clock
        # sha256(token) -> (username, or "" when not authenticated; when the entry expires).
        self._cache: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._pending: dict[str, asyncio.Task[str]] = {}
        self.reviews = 0

    async def authenticate(self, metadata: Mapping[str, str], gateway: str) -> None:
        token = bearer_token(metadata)
        if not token:
            raise ProxyRejected(
                grpc.StatusCode.UNAUTHENTICATED, "a ServiceAccount bearer token is required"
            )
        username = await self._username(token)
        if not username:
            raise ProxyRejected(
                grpc.StatusCode.UNAUTHENTICATED,
                f"the token is not valid for audience {', '.join(self._audiences)}",
            )
        expected = self._expected(gateway)
        if username != expected:
            raise ProxyRejected(
                grpc.StatusCode.PERMISSION_DENIED,
                f"{username} may not read the configuration of gateway {gateway or '(none)'}",
            )

    async def _username(self, token: str) -> str:
        key = hashlib.sha256(token.encode()).hexdigest()
        cached = self._cache.get(key)
        if cached is not None and cached[1] > self._clock():
            return cached[0]
        pending = self._pending.get(key)
        if pending is None:
            pending = asyncio.ensure_future(self._review_and_remember(key, token))
            self._pending[key] = pending
            pending.add_done_callback(lambda _: self._pending.pop(key, None))
        return await asyncio.shield(pending)

    async def _review_and_remember(self, key: str, token: str) -> str:
        username = await self._review(token)
        if username:
            # Only successes are cached: a token that failed may be one kubelet just rotated.
            self._remember(key, username)
        return username

    async def _review(self, token: str) -> str:
        self.reviews += 1
        review = V1TokenReview(
            spec=V1TokenReviewSpec(token=token, audiences=self._audiences or None)
        )
        try:
            answer = await self._reviews.create_token_review(review)
        except ApiException as error:
            raise ProxyRejected(
                grpc.StatusCode.UNAVAILABLE,
                f"cannot verify the token now (TokenReview: {error.status} {error.reason})",
            ) from None
        status = answer.status
        if status is None or not status.authenticated or status.user is None:
            return ""
        granted = set(status.audiences or ())
        if self._audiences and not granted & set(self._audiences):
            return ""
        return str(status.user.username or "")

    def _remember(self, key: str, username: str) -> None:
        self._cache[key] = (username, self._clock() + self._cache_seconds)
        self._cache.move_to_end(key)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
