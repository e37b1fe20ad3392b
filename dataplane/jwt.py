"""JWT authentication on the request path, as Envoy's jwt_authn filter does it for agw's
requirement shapes: each provider of the route's requirement looks for a token where it is
told to (by default the Authorization bearer header, then the ``access_token`` query
parameter), and a token one provider verifies lets the request through with its claims.

Verification: a compact JWS signed with RS256/384/512, ES256/384 or EdDSA by a key of the
provider's set (by ``kid`` when the token names one), the provider's issuer, ``exp`` and
``nbf`` within the clock skew, and one of the provider's audiences when it lists any. As in
Envoy, a missing or invalid token answers 401 and a wrong audience 403, unless the
requirement allows missing (or failed) tokens.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from dataplane.config.jwt_authn import (
    Allow,
    JwtAuthnConfig,
    JwtProvider,
    PublicKey,
    b64url,
)
from dataplane.request import RequestHead

_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "256": hashes.SHA256,
    "384": hashes.SHA384,
    "512": hashes.SHA512,
}


@dataclass(frozen=True, slots=True)
class Failure:
    status: int
    message: bytes


MISSING = Failure(401, b"Jwt is missing")
MALFORMED = Failure(401, b"Jwt is not in the form of Header.Payload.Signature")
BAD_SIGNATURE = Failure(401, b"Jwt verification fails")
EXPIRED = Failure(401, b"Jwt is expired")
NOT_YET_VALID = Failure(401, b"Jwt not yet valid")
WRONG_ISSUER = Failure(401, b"Jwt issuer is not configured")
WRONG_AUDIENCE = Failure(403, b"Audiences in Jwt are not allowed")
NO_REQUIREMENT = Failure(403, b"Jwt requirement is not configured")


def authenticate(
    head: RequestHead, config: JwtAuthnConfig, requirement_name: str, now: float | None = None
) -> tuple[Failure | None, Mapping[str, Any] | None]:
    """(the failure to answer, or None) and the claims of a verified token, if any."""
    requirement = config.requirements.get(requirement_name)
    if requirement is None:
        return NO_REQUIREMENT, None
    clock = time.time() if now is None else now
    failure: Failure | None = None
    for name in requirement.providers:
        provider = config.providers[name]
        token = find_token(head, provider)
        if token is None:
            continue
        outcome = verify(token, provider, clock)
        if isinstance(outcome, Failure):
            failure = failure or outcome
            continue
        return None, outcome
    if requirement.allow is Allow.MISSING_OR_FAILED:
        return None, None
    if failure is None:
        return (None if requirement.allow is Allow.MISSING else MISSING), None
    return failure, None


def find_token(head: RequestHead, provider: JwtProvider) -> bytes | None:
    if not (provider.headers or provider.params or provider.cookies):
        headers: tuple[tuple[bytes, bytes], ...] = ((b"authorization", b"Bearer "),)
        params: tuple[bytes, ...] = (b"access_token",)
    else:
        headers, params = provider.headers, provider.params
    for name, prefix in headers:
        value = next((v for n, v in head.headers if n == name), None)
        if value is not None and value.startswith(prefix):
            return value[len(prefix) :].strip() or None
    for param in params:
        found = head.query_param(param)
        if found:
            return found
    for cookie in provider.cookies:
        found = _cookie(head, cookie.encode("latin-1"))
        if found:
            return found
    return None


def _cookie(head: RequestHead, name: bytes) -> bytes | None:
    for key, value in head.headers:
        if key != b"cookie":
            continue
        for pair in value.split(b";"):
            cookie, _, content = pair.strip().partition(b"=")
            if cookie == name:
                return content
    return None


def verify(token: bytes, provider: JwtProvider, now: float) -> Failure | dict[str, Any]:
    parts = token.split(b".")
    if len(parts) != 3:
        return MALFORMED
    try:
        header = json.loads(b64url(parts[0].decode("ascii")))
        claims = json.loads(b64url(parts[1].decode("ascii")))
        signature = b64url(parts[2].decode("ascii"))
    except (ValueError, UnicodeDecodeError):
        return MALFORMED
    if not isinstance(header, dict) or not isinstance(claims, dict):
        return MALFORMED
    signed = parts[0] + b"." + parts[1]
    kid = header.get("kid")
    keys = [key for key_id, key in provider.keys_for(kid) if kid is None or key_id == kid]
    if not any(_signature_valid(str(header.get("alg")), key, signed, signature) for key in keys):
        return BAD_SIGNATURE
    return _check_claims(claims, provider, now)


def _check_claims(
    claims: dict[str, Any], provider: JwtProvider, now: float
) -> Failure | dict[str, Any]:
    if provider.issuer and claims.get("iss") != provider.issuer:
        return WRONG_ISSUER
    expiry = claims.get("exp")
    if isinstance(expiry, int | float) and now >= expiry + provider.clock_skew:
        return EXPIRED
    not_before = claims.get("nbf")
    if isinstance(not_before, int | float) and now < not_before - provider.clock_skew:
        return NOT_YET_VALID
    if provider.audiences:
        audience = claims.get("aud")
        given = {audience} if isinstance(audience, str) else set(audience or ())
        if not given & provider.audiences:
            return WRONG_AUDIENCE
    return claims


def _signature_valid(alg: str, key: PublicKey, signed: bytes, signature: bytes) -> bool:
    try:
        if alg.startswith("RS") and isinstance(key, rsa.RSAPublicKey) and alg[2:] in _HASHES:
            key.verify(signature, signed, padding.PKCS1v15(), _HASHES[alg[2:]]())
            return True
        if alg.startswith("ES") and isinstance(key, ec.EllipticCurvePublicKey):
            size = (key.curve.key_size + 7) // 8
            if alg[2:] not in _HASHES or len(signature) != 2 * size:
                return False
            r, s = (int.from_bytes(signature[i : i + size], "big") for i in (0, size))
            key.verify(encode_dss_signature(r, s), signed, ec.ECDSA(_HASHES[alg[2:]]()))
            return True
        if alg == "EdDSA" and isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, signed)
            return True
    except InvalidSignature:
        return False
    return False
