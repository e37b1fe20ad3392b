"""Compile Envoy's ``envoy.filters.http.jwt_authn`` filter: providers with inline key sets, and
named requirements that routes pick with ``PerRouteConfig.requirement_name``.

A requirement is one provider, or ``requires_any`` of providers plus, optionally,
``allow_missing`` or ``allow_missing_or_failed`` (the shapes agw emits). Keys are parsed here,
once per configuration; a key set that cannot be parsed leaves its provider unable to verify
anything, as in Envoy, rather than rejecting the update.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from envoy.extensions.filters.http.jwt_authn.v3 import config_pb2

from dataplane.config.support import check_fields
from dataplane.config.values import data_source_bytes, seconds
from dataplane.errors import InvalidConfig, UnsupportedField
from dataplane.jwks import RemoteKeySet

JWT_AUTHN_TYPE = "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication"
PER_ROUTE_TYPE = "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.PerRouteConfig"
PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey
_CURVES: dict[str, ec.EllipticCurve] = {"P-256": ec.SECP256R1(), "P-384": ec.SECP384R1()}
# Envoy's default allowance for clocks that disagree.
DEFAULT_CLOCK_SKEW = 60


@dataclass(frozen=True, slots=True)
class JwtProvider:
    name: str
    issuer: str
    audiences: frozenset[str]
    # (kid, key); a token without a kid tries every key.
    keys: tuple[tuple[str, PublicKey], ...]
    # (lower-case header, value prefix); none of the three means Envoy's defaults.
    headers: tuple[tuple[bytes, bytes], ...] = ()
    params: tuple[bytes, ...] = ()
    cookies: tuple[str, ...] = ()
    clock_skew: int = DEFAULT_CLOCK_SKEW
    # Live state of a remote key set (``keys`` is then empty).
    remote: RemoteKeySet | None = field(default=None, compare=False)

    def keys_for(self, kid: str | None) -> tuple[tuple[str, PublicKey], ...]:
        return self.remote.current(kid) if self.remote is not None else self.keys


class Allow(Enum):
    NOTHING = 0
    MISSING = 1
    MISSING_OR_FAILED = 2


@dataclass(frozen=True, slots=True)
class JwtRequirement:
    providers: tuple[str, ...]
    allow: Allow = Allow.NOTHING


@dataclass(frozen=True, slots=True)
class JwtAuthnConfig:
    providers: Mapping[str, JwtProvider]
    requirements: Mapping[str, JwtRequirement]


def is_jwt_authn(http_filter: Any) -> bool:
    return bool(http_filter.typed_config.type_url == JWT_AUTHN_TYPE)


def compile_jwt_authn(http_filter: Any) -> JwtAuthnConfig:
    config = config_pb2.JwtAuthentication()
    http_filter.typed_config.Unpack(config)
    where = f"HttpFilter {http_filter.name!r}"
    check_fields(config, "JwtAuthentication", where)
    providers = {name: _provider(name, p) for name, p in config.providers.items()}
    requirements = {
        name: _requirement(r, f"JwtAuthentication.requirement_map[{name}]", providers)
        for name, r in config.requirement_map.items()
    }
    return JwtAuthnConfig(MappingProxyType(providers), MappingProxyType(requirements))


def compile_jwt_per_route(packed: Any, path: str) -> str | None:
    """The requirement a route names; None when the route turns the filter off."""
    per_route = config_pb2.PerRouteConfig()
    packed.Unpack(per_route)
    check_fields(per_route, "PerRouteConfig")
    if per_route.disabled:
        return None
    if not per_route.requirement_name:
        raise InvalidConfig(f"{path}: requirement_name or disabled is required")
    return str(per_route.requirement_name)


def _provider(name: str, provider: Any) -> JwtProvider:
    check_fields(provider, "JwtProvider", f"provider {name!r}")
    local = provider.HasField("local_jwks")
    if not provider.forward:
        raise UnsupportedField(f"JwtProvider[{name}].forward=false (removing the token)")
    return JwtProvider(
        name=name,
        issuer=provider.issuer,
        audiences=frozenset(provider.audiences),
        keys=parse_jwks(data_source_bytes(provider.local_jwks)) if local else (),
        remote=_remote(name, provider) if not local else None,
        headers=tuple(
            (h.name.lower().encode("latin-1"), h.value_prefix.encode("latin-1"))
            for h in provider.from_headers
        ),
        params=tuple(p.encode("latin-1") for p in provider.from_params),
        cookies=tuple(provider.from_cookies),
        clock_skew=provider.clock_skew_seconds or DEFAULT_CLOCK_SKEW,
    )


def _remote(name: str, provider: Any) -> RemoteKeySet:
    if not provider.HasField("remote_jwks"):
        raise InvalidConfig(f"JwtProvider[{name}]: local_jwks or remote_jwks is required")
    remote = provider.remote_jwks
    if not remote.http_uri.cluster:
        raise InvalidConfig(f"JwtProvider[{name}].remote_jwks.http_uri.cluster is required")
    cache = seconds(remote.cache_duration) if remote.HasField("cache_duration") else 300.0
    return RemoteKeySet(remote.http_uri.cluster, remote.http_uri.uri, cache, parse_jwks)


def _requirement(
    requirement: Any, path: str, providers: Mapping[str, JwtProvider]
) -> JwtRequirement:
    check_fields(requirement, "JwtRequirement", path)
    which = requirement.WhichOneof("requires_type")
    if which == "provider_name":
        choices = [requirement]
    elif which == "requires_any":
        choices = list(requirement.requires_any.requirements)
    else:
        raise UnsupportedField(f"{path}.{which}")
    names: list[str] = []
    allow = Allow.NOTHING
    for choice in choices:
        kind = choice.WhichOneof("requires_type")
        if kind == "provider_name":
            if choice.provider_name not in providers:
                raise InvalidConfig(f"{path}: unknown provider {choice.provider_name!r}")
            names.append(choice.provider_name)
        elif kind == "allow_missing":
            allow = Allow.MISSING
        elif kind == "allow_missing_or_failed":
            allow = Allow.MISSING_OR_FAILED
        else:
            raise UnsupportedField(f"{path}.requires_any.requirements[].{kind}")
    return JwtRequirement(tuple(names), allow)


def parse_jwks(content: bytes) -> tuple[tuple[str, PublicKey], ...]:
    try:
        document = json.loads(content)
        entries = document["keys"] if isinstance(document, dict) else []
    except (ValueError, KeyError):
        return ()
    keys = []
    for entry in entries if isinstance(entries, list) else []:
        key = _public_key(entry) if isinstance(entry, dict) else None
        if key is not None:
            keys.append((str(entry.get("kid", "")), key))
    return tuple(keys)


def _public_key(entry: dict[str, Any]) -> PublicKey | None:
    try:
        kty = entry.get("kty")
        if kty == "RSA":
            return rsa.RSAPublicNumbers(_int(entry["e"]), _int(entry["n"])).public_key()
        if kty == "EC" and entry.get("crv") in _CURVES:
            curve = _CURVES[entry["crv"]]
            numbers = ec.EllipticCurvePublicNumbers(_int(entry["x"]), _int(entry["y"]), curve)
            return numbers.public_key()
        if kty == "OKP" and entry.get("crv") == "Ed25519":
            return ed25519.Ed25519PublicKey.from_public_bytes(b64url(entry["x"]))
    except (KeyError, ValueError, TypeError):
        return None
    return None


def b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _int(text: str) -> int:
    return int.from_bytes(b64url(text), "big")
