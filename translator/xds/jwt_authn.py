"""Envoy's jwt_authn filter for AgentgatewayPolicy JWT authentication: every provider of the
chain's routes in the filter config, one requirement per policy in its ``requirement_map``,
each route naming its requirement (``PerRouteConfig.requirement_name``).

Strict needs a valid token from one provider; Optional adds ``allow_missing``; Permissive
adds ``allow_missing_or_failed``. Tokens stay on the request (``forward``): agentgateway
passes them on too. A remote key set is ``remote_jwks`` through its server's cluster, cached
for the provider's duration. A requirement left without providers (remote ones whose server
could not be resolved) names a provider nobody holds a key for, so Strict and Optional fail
closed. Claims go to dynamic metadata (``payload_in_metadata``) for RBAC conditions."""

from __future__ import annotations

import json

from envoy.config.core.v3 import base_pb2, http_uri_pb2
from envoy.extensions.filters.http.jwt_authn.v3 import config_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from google.protobuf import duration_pb2, empty_pb2
from google.protobuf.message import Message

from translator.ir.auth import JWT_AUTHN_FILTER, JwtAuthn, JwtMode, JwtProvider
from translator.xds.cel_expr import JWT_PAYLOAD_KEY
from translator.xds.extensions import pack

_FETCH_TIMEOUT = duration_pb2.Duration(seconds=5)
# A P-256 public key whose private key was thrown away.
_NOBODY_PROVIDER = "agw/no-usable-provider"
_NOBODY_JWKS = json.dumps(
    {
        "keys": [
            {
                "kty": "EC",
                "crv": "P-256",
                "kid": "nobody",
                "x": "OujaHcdc1Xgyi-ju8-mk_zSkpLx7Kwfn11y4ps8csZI",
                "y": "_yUY5OFv2X014fjkM_hV6-A-YyRa2zTZmCyZsYv-wnw",
            }
        ]
    }
)


def build_jwt_authn_filter(authns: tuple[JwtAuthn, ...]) -> Message:
    config = config_pb2.JwtAuthentication()
    for authn in authns:
        for provider in authn.providers:
            config.providers[provider.name].CopyFrom(_provider(provider))
        if not authn.providers:
            nobody = JwtProvider(_NOBODY_PROVIDER, "agw.invalid", (), _NOBODY_JWKS)
            config.providers[_NOBODY_PROVIDER].CopyFrom(_provider(nobody))
        config.requirement_map[authn.name].CopyFrom(_requirement(authn))
    return hcm_pb2.HttpFilter(name=JWT_AUTHN_FILTER, typed_config=pack(config))


def build_jwt_per_route(authn: JwtAuthn) -> Message:
    return pack(config_pb2.PerRouteConfig(requirement_name=authn.name))


def _provider(provider: JwtProvider) -> Message:
    built = config_pb2.JwtProvider(
        issuer=provider.issuer,
        audiences=list(provider.audiences),
        forward=True,
        from_headers=[
            config_pb2.JwtHeader(name=name, value_prefix=prefix)
            for name, prefix in provider.headers
        ],
        from_params=list(provider.params),
        from_cookies=list(provider.cookies),
        # Where Envoy's CEL (RBAC conditions) reads the claims agw's CEL calls ``jwt``.
        payload_in_metadata=JWT_PAYLOAD_KEY,
    )
    remote = provider.remote
    if remote is None:
        built.local_jwks.CopyFrom(base_pb2.DataSource(inline_string=provider.jwks))
        return built
    cache = duration_pb2.Duration()
    cache.FromNanoseconds(round(remote.cache_duration_seconds * 1_000_000_000))
    built.remote_jwks.CopyFrom(
        config_pb2.RemoteJwks(
            http_uri=http_uri_pb2.HttpUri(
                uri=remote.uri, cluster=remote.cluster, timeout=_FETCH_TIMEOUT
            ),
            cache_duration=cache,
        )
    )
    return built


def _requirement(authn: JwtAuthn) -> Message:
    names = [p.name for p in authn.providers] or [_NOBODY_PROVIDER]
    choices = [config_pb2.JwtRequirement(provider_name=name) for name in names]
    if authn.mode is JwtMode.OPTIONAL:
        choices.append(config_pb2.JwtRequirement(allow_missing=empty_pb2.Empty()))
    elif authn.mode is JwtMode.PERMISSIVE:
        choices.append(config_pb2.JwtRequirement(allow_missing_or_failed=empty_pb2.Empty()))
    if len(choices) == 1:
        return choices[0]
    return config_pb2.JwtRequirement(
        requires_any=config_pb2.JwtRequirementOrList(requirements=choices)
    )
