"""Signing keys and JSON Web Tokens for tests, built with cryptography alone (RS256 and
ES256): a key pair, its public JWKS, and compact tokens with any claims."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _number(value: int, size: int | None = None) -> str:
    return b64url(value.to_bytes(size or (value.bit_length() + 7) // 8, "big"))


@dataclass
class SigningKey:
    kid: str
    alg: str = "RS256"
    key: Any = field(init=False)

    def __post_init__(self) -> None:
        if self.alg == "RS256":
            self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        else:
            self.key = ec.generate_private_key(ec.SECP256R1())

    def jwk(self) -> dict[str, str]:
        numbers = self.key.public_key().public_numbers()
        if self.alg == "RS256":
            return {"kty": "RSA", "kid": self.kid, "alg": "RS256", "n": _number(numbers.n),
                    "e": _number(numbers.e)}  # fmt: skip
        return {"kty": "EC", "kid": self.kid, "crv": "P-256", "x": _number(numbers.x, 32),
                "y": _number(numbers.y, 32)}  # fmt: skip

    def jwks(self) -> str:
        return json.dumps({"keys": [self.jwk()]})

    def token(self, claims: dict[str, Any], kid: str | None = None) -> str:
        header = {"alg": self.alg, "typ": "JWT", "kid": kid or self.kid}
        signed = (
            b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
        ).encode()
        if self.alg == "RS256":
            signature = self.key.sign(signed, padding.PKCS1v15(), hashes.SHA256())
        else:
            r, s = decode_dss_signature(self.key.sign(signed, ec.ECDSA(hashes.SHA256())))
            signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        return signed.decode() + "." + b64url(signature)
