"""The AgentgatewayPolicy model: a full valid policy loads through the loader, and every
admission rule (targets, which section may target which kind, the one-of rules of the
feature types, CEL expressions) rejects what it should, with a message naming the rule.
Also checks that the not-enforced table names every feature field of the model.

Leaves out: attachment, merge and statuses (the agwpolicy-* golden cases) and the CRD's copy
of these rules (tests/deploy/test_crds.py).
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from translator.gatewayapi.policy.enforcement import NOT_ENFORCED
from translator.loader import parse_object
from translator.model import AgentgatewayPolicy
from translator.model.agentgateway_connection import Backend, Frontend
from translator.model.agentgateway_policy import Inheritance
from translator.model.agentgateway_traffic import Traffic

GATEWAY = {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "gw"}
SERVICE = {"group": "", "kind": "Service", "name": "web"}
ROUTE = {"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "name": "web"}
BACKEND_REF = {"name": "authz", "port": 9000}
FULL_TRAFFIC: dict[str, Any] = {
    "headerModifiers": {"request": {"set": [{"name": "x-a", "value": "1"}]}},
    "transformation": {
        "request": {
            "set": [{"name": "x-user", "value": "jwt.sub"}],
            "add": [{"name": "x-path", "value": "request.path"}],
            "remove": ["x-internal"],
            "body": "request.body",
            "metadata": {"tenant": "jwt.tenant"},
        },
        "response": {"set": [{"name": "x-served-by", "value": "'agw'"}]},
    },
    "cors": {"allowOrigins": ["https://a.example.com"], "maxAge": 60},
    "csrf": {"additionalOrigins": ["https://b.example.com"]},
    "timeouts": {"request": "10s", "backendRequest": "2s"},
    "retry": {"attempts": 2, "codes": [503], "precondition": "request.method == 'GET'"},
    "directResponse": {"status": 503, "body": "maintenance"},
    "hostRewrite": {"mode": "Auto"},
    "extAuth": {
        "backendRef": BACKEND_REF,
        "http": {"path": "/check", "allowedRequestHeaders": ["authorization"]},
        "failureMode": "FailOpen",
        "forwardBody": {"maxSize": 4096},
    },
    "jwtAuthentication": {
        "mode": "Optional",
        "providers": [
            {
                "issuer": "https://issuer.example.com",
                "audiences": ["api"],
                "jwks": {"remote": {"backendRef": BACKEND_REF, "cacheDuration": "10m"}},
                "tokenLocations": [{"header": "x-token", "prefix": "Bearer "}, {"cookie": "t"}],
            },
            {"issuer": "local", "jwks": {"inline": '{"keys": []}'}},
        ],
    },
    "basicAuthentication": {"users": ["alice:$apr1$abc$def"], "realm": "r"},
    "apiKeyAuthentication": {"secretSelector": {"matchLabels": {"k": "v"}}, "keyHash": "SHA256"},
    "authorization": {"action": "Deny", "policy": {"matchExpressions": ["source.port == 1"]}},
    "rateLimit": {
        "local": [{"requests": 10, "unit": "Seconds", "burst": 2}],
        "global": {
            "backendRef": BACKEND_REF,
            "domain": "agw",
            "descriptors": [{"entries": [{"name": "ip", "expression": "source.address"}]}],
        },
    },
    "buffer": {"maxRequestSize": 1048576},
}
FULL_BACKEND: dict[str, Any] = {
    "tls": {"mtlsCertificateRef": "client", "sni": "web.internal", "alpnProtocols": ["h2"]},
    "http": {"version": "HTTP2", "requestTimeout": "1s"},
    "tcp": {"connectTimeout": "500ms", "keepalive": {"time": "30s", "retries": 3}},
    "auth": {"passthrough": True},
    "health": {"consecutiveFailures": 2},
}
FULL_FRONTEND: dict[str, Any] = {
    "tls": {"minProtocolVersion": "1.2", "cipherSuites": ["ECDHE-RSA-AES128-GCM-SHA256"]},
    "http": {"http1MaxHeaders": 64, "http2WindowSize": 65535},
    "tcp": {"keepalive": {"interval": "10s"}},
    "proxyProtocol": {"mode": "Optional"},
    "accessLog": {
        "filter": "response.code >= 500",
        "attributes": {"add": [{"name": "user", "expression": "jwt.sub"}], "remove": ["x"]},
    },
    "tracing": {"backendRef": BACKEND_REF, "randomSampling": "0.1"},
    "metrics": {"attributes": {"add": [{"name": "tenant", "expression": "jwt.tenant"}]}},
}


def policy(spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "agentgateway.dev/v1alpha1",
        "kind": "AgentgatewayPolicy",
        "metadata": {"name": "p", "namespace": "default"},
        "spec": spec,
    }


def test_a_policy_with_every_feature_loads() -> None:
    spec = {
        "targetRefs": [GATEWAY],
        "strategy": {"inheritance": "Override"},
        "traffic": FULL_TRAFFIC,
        "backend": FULL_BACKEND,
        "frontend": FULL_FRONTEND,
    }
    loaded = parse_object(policy(spec))
    assert isinstance(loaded, AgentgatewayPolicy)
    assert loaded.spec.strategy is not None
    assert loaded.spec.strategy.inheritance is Inheritance.OVERRIDE
    assert loaded.spec.traffic is not None and loaded.spec.traffic.rate_limit is not None
    assert loaded.spec.traffic.rate_limit.global_ is not None
    dumped = loaded.spec.model_dump(mode="json", by_alias=True, exclude_none=True)
    assert dumped["traffic"]["rateLimit"]["global"]["domain"] == "agw"


def test_a_backend_policy_may_target_a_service_port_and_select_by_label() -> None:
    AgentgatewayPolicy.model_validate(
        policy({"targetRefs": [{**SERVICE, "sectionName": "http"}], "backend": FULL_BACKEND})
    )
    selector = {**ROUTE, "matchLabels": {"team": "web"}}
    selector.pop("name")
    AgentgatewayPolicy.model_validate(
        policy({"targetSelectors": [selector], "traffic": {"buffer": {"maxRequestSize": 1}}})
    )


ADMISSION: dict[str, tuple[dict[str, Any], str]] = {
    "no targets": ({"traffic": {"csrf": {}}}, "exactly one of targetRefs, targetSelectors"),
    "refs and selectors": (
        {
            "targetRefs": [GATEWAY],
            "targetSelectors": [{"group": "", "kind": "Service", "matchLabels": {"a": "b"}}],
            "traffic": {"csrf": {}},
        },
        "exactly one of targetRefs, targetSelectors",
    ),
    "no section": ({"targetRefs": [GATEWAY]}, "at least one of traffic, frontend, backend"),
    "unknown kind": (
        {"targetRefs": [{**GATEWAY, "kind": "TCPRoute"}], "traffic": {"csrf": {}}},
        "cannot be targeted",
    ),
    "two kinds": ({"targetRefs": [GATEWAY, ROUTE], "backend": {"http": {}}}, "of one kind"),
    "frontend on a route": ({"targetRefs": [ROUTE], "frontend": FULL_FRONTEND}, "whole Gateway"),
    "frontend on a listener": (
        {"targetRefs": [{**GATEWAY, "sectionName": "web"}], "frontend": {"proxyProtocol": {}}},
        "whole Gateway",
    ),
    "traffic on a service": ({"targetRefs": [SERVICE], "traffic": {"csrf": {}}}, "Service"),
    "jwks inline and remote": (
        {
            "targetRefs": [GATEWAY],
            "traffic": {
                "jwtAuthentication": {
                    "providers": [
                        {
                            "issuer": "i",
                            "jwks": {"inline": "{}", "remote": {"backendRef": BACKEND_REF}},
                        }
                    ]
                }
            },
        },
        "exactly one of remote, inline",
    ),
    "basic auth without users": (
        {"targetRefs": [GATEWAY], "traffic": {"basicAuthentication": {"realm": "r"}}},
        "exactly one of users, secretRef",
    ),
    "ext auth grpc and http": (
        {
            "targetRefs": [GATEWAY],
            "traffic": {"extAuth": {"backendRef": BACKEND_REF, "grpc": {}, "http": {}}},
        },
        "at most one of grpc, http",
    ),
    "backend auth twice": (
        {"targetRefs": [SERVICE], "backend": {"auth": {"key": "k", "passthrough": True}}},
        "exactly one of key, secretRef, passthrough",
    ),
    "empty CEL": (
        {
            "targetRefs": [GATEWAY],
            "traffic": {
                "authorization": {"policy": {"matchExpressions": ["  "]}},
            },
        },
        "should match pattern",
    ),
    "bad duration": (
        {"targetRefs": [GATEWAY], "traffic": {"timeouts": {"request": "10 seconds"}}},
        "should match pattern",
    ),
    "unknown field": (
        {"targetRefs": [GATEWAY], "traffic": {"timeout": {"request": "1s"}}},
        "Extra inputs",
    ),
}


@pytest.mark.parametrize("case", ADMISSION.values(), ids=ADMISSION.keys())
def test_admission_rules_reject(case: tuple[dict[str, Any], str]) -> None:
    spec, message = case
    spec = copy.deepcopy(spec)
    with pytest.raises(ValidationError, match=message):
        AgentgatewayPolicy.model_validate(policy(spec))


def _paths(section: str, model: type[BaseModel]) -> set[str]:
    return {f"{section}.{field.alias or name}" for name, field in model.model_fields.items()}


def test_the_not_enforced_table_names_only_real_fields() -> None:
    fields = _paths("traffic", Traffic) | _paths("backend", Backend) | _paths("frontend", Frontend)
    # Enforced fields leave the table; what stays must still name a real field.
    assert NOT_ENFORCED - fields == set()
