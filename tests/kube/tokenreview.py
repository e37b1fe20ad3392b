"""TokenReview as the emulated API server answers it: tokens it issued authenticate as their
ServiceAccount (when the audiences agree); any other token does not."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Bearer token -> (username, audiences the token was issued for).
Tokens = Mapping[str, tuple[str, tuple[str, ...]]]


def review_token(tokens: Tokens, review: dict[str, Any], version: str) -> dict[str, Any]:
    spec = review.get("spec") or {}
    found = tokens.get(str(spec.get("token", "")))
    wanted = tuple(spec.get("audiences") or ())
    status: dict[str, Any] = {"authenticated": False}
    if found is not None:
        user, audiences = found
        if not wanted or not audiences or set(wanted) & set(audiences):
            namespace = user.split(":")[2]
            groups = [
                "system:serviceaccounts",
                f"system:serviceaccounts:{namespace}",
                "system:authenticated",
            ]
            status = {
                "authenticated": True,
                "user": {"username": user, "groups": groups},
                "audiences": list(wanted or audiences),
            }
    return {**review, "apiVersion": f"authentication.k8s.io/{version}", "status": status}
