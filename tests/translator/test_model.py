"""The Gateway API v1.6 and core input models, validated directly (no YAML loader).

Covers: realistic manifests of every kind parse; CRD defaults apply; dumping by alias keeps
camelCase and round-trips, and keeps every field that was written; each CRD validation rule
(patterns, bounds, enums, list limits, CEL rules) rejects a failing case; durations parse.
Leaves out: YAML/JSON decoding, namespace defaulting and problem reporting (test_loader).
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from translator.model import (
    SERVED_KINDS,
    EndpointSlice,
    Gateway,
    GRPCRoute,
    HTTPRoute,
    Resource,
    Secret,
    served_model,
)
from translator.model.duration import parse_duration
from translator.model.filters import RequestRedirectFilter
from translator.model.gateway import FromNamespaces, ProtocolType, TLSModeType
from translator.model.httproute import PathMatchType
from translator.model.meta import ObjectMeta
from translator.model.shared import HeaderMatchType

GW = "gateway.networking.k8s.io/v1"
MANIFESTS = """
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: agw}
spec: {controllerName: agw.dev/gateway-controller, description: agw proxies}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: edge, namespace: infra, generation: 3, creationTimestamp: "2026-01-02T03:04:05Z"}
spec:
  gatewayClassName: agw
  addresses: [{type: IPAddress, value: 127.0.10.7}]
  infrastructure: {labels: {team: edge}, annotations: {example.com/owner: ops}}
  allowedListeners: {namespaces: {from: Selector, selector: {matchLabels: {edge: "yes"}}}}
  tls:
    backend: {clientCertificateRef: {name: client-cert}}
    frontend:
      default: {validation: {caCertificateRefs: [{group: "", kind: ConfigMap, name: ca}]}}
      perPort: [{port: 8443, tls: {validation: {caCertificateRefs: [{group: "", kind: ConfigMap,
                 name: ca2}], mode: AllowInsecureFallback}}}]
  listeners:
  - {name: http, port: 80, protocol: HTTP}
  - name: https
    port: 443
    protocol: HTTPS
    hostname: "*.example.com"
    tls: {certificateRefs: [{name: wildcard-cert}]}
    allowedRoutes:
      namespaces:
        from: Selector
        selector: {matchExpressions: [{key: env, operator: In, values: [prod]}]}
      kinds: [{kind: HTTPRoute}, {kind: GRPCRoute}]
  - {name: tls, port: 8443, protocol: TLS, tls: {mode: Passthrough}}
  - {name: tcp, port: 9000, protocol: TCP, allowedRoutes: {namespaces: {from: All}}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: shop, namespace: web, labels: {app: shop}}
spec:
  parentRefs: [{name: edge, namespace: infra, sectionName: https}]
  hostnames: [shop.example.com]
  rules:
  - name: api
    matches:
    - path: {type: PathPrefix, value: /api}
      headers:
      - {name: x-tenant, value: blue}
      - {type: RegularExpression, name: x-v, value: "v[0-9]+"}
      queryParams: [{name: debug, value: "1"}]
      method: POST
    filters:
    - type: RequestHeaderModifier
      requestHeaderModifier:
        {set: [{name: x-a, value: b}], add: [{name: x-c, value: d}], remove: [x-e]}
    - type: ResponseHeaderModifier
      responseHeaderModifier: {add: [{name: x-served-by, value: agw}]}
    - type: RequestMirror
      requestMirror: {backendRef: {name: shadow, port: 8080}, fraction: {numerator: 5}}
    - type: URLRewrite
      urlRewrite:
        {hostname: internal.shop, path: {type: ReplacePrefixMatch, replacePrefixMatch: /v2}}
    - type: CORS
      cors: {allowOrigins: ["https://app.example.com"], allowMethods: [GET, POST],
             allowCredentials: true}
    - type: ExternalAuth
      externalAuth: {protocol: HTTP, backendRef: {name: authz, port: 9001}, http: {path: /check},
                     forwardBody: {maxSize: 1024}}
    - type: ExtensionRef
      extensionRef: {group: agentgateway.dev, kind: Policy, name: rate}
    backendRefs:
    - name: shop-api
      port: 8080
      weight: 90
      filters:
      - {type: RequestHeaderModifier, requestHeaderModifier: {set: [{name: x-canary, value: "no"}]}}
    - {name: shop-api-canary, port: 8080, weight: 10}
    timeouts: {request: 10s, backendRequest: 2s}
    retry: {codes: [502, 503], attempts: 2, backoff: 100ms}
    sessionPersistence:
      {sessionName: shop, absoluteTimeout: 1h, cookieConfig: {lifetimeType: Permanent}}
  - matches: [{path: {type: Exact, value: /old}}]
    filters:
    - type: RequestRedirect
      requestRedirect: {scheme: https, hostname: shop.example.com, port: 443, statusCode: 301,
                        path: {type: ReplaceFullPath, replaceFullPath: /new}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: greeter, namespace: web}
spec:
  parentRefs: [{name: edge, namespace: infra}]
  hostnames: [grpc.example.com]
  rules:
  - matches:
    - method: {service: helloworld.Greeter, method: SayHello}
      headers: [{name: x-user, value: alice}]
    - method: {type: RegularExpression, service: "helloworld\\\\..*"}
    filters: [{type: ResponseHeaderModifier, responseHeaderModifier: {remove: [x-internal]}}]
    backendRefs: [{name: greeter, port: 50051}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: TLSRoute
metadata: {name: db, namespace: data}
spec:
  parentRefs: [{name: edge, namespace: infra, sectionName: tls}]
  hostnames: [db.example.com]
  rules: [{backendRefs: [{name: postgres, port: 5432}]}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: TCPRoute
metadata: {name: raw, namespace: data}
spec:
  parentRefs: [{name: edge, namespace: infra, port: 9000}]
  rules: [{backendRefs: [{name: raw, port: 9000}]}]
---
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: UDPRoute
metadata: {name: dns, namespace: data}
spec:
  parentRefs: [{name: edge, namespace: infra}]
  rules:
  - {name: a, backendRefs: [{name: coredns, port: 53}]}
  - {name: b, backendRefs: [{name: dns2, port: 53}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: ReferenceGrant
metadata: {name: from-web, namespace: data}
spec:
  from: [{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: web}]
  to: [{group: "", kind: Service}, {group: "", kind: Secret, name: tls}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: BackendTLSPolicy
metadata: {name: shop-tls, namespace: web}
spec:
  targetRefs: [{group: "", kind: Service, name: shop-api, sectionName: https}]
  validation:
    caCertificateRefs: [{group: "", kind: ConfigMap, name: shop-ca}]
    hostname: shop-api.web.svc
    subjectAltNames:
    - {type: Hostname, hostname: shop-api.web.svc}
    - {type: URI, uri: "spiffe://td/ns/web/sa/shop"}
  options: {example.com/min-version: "1.3"}
---
apiVersion: gateway.networking.x-k8s.io/v1alpha1
kind: XBackendTrafficPolicy
metadata: {name: shop-traffic, namespace: web}
spec:
  targetRefs: [{group: "", kind: Service, name: shop-api}]
  retryConstraint:
    budget: {percent: 25, interval: 20s}
    minRetryRate: {count: 5, interval: 2s}
  sessionPersistence:
    sessionName: shop
    absoluteTimeout: 1h
    cookieConfig: {lifetimeType: Permanent}
---
apiVersion: gateway.networking.k8s.io/v1
kind: ListenerSet
metadata: {name: team-a, namespace: team-a}
spec:
  parentRef: {name: edge, namespace: infra}
  listeners: [{name: a, port: 8080, protocol: HTTP, hostname: a.example.com}]
---
apiVersion: v1
kind: Service
metadata: {name: shop-api, namespace: web}
spec:
  type: ClusterIP
  clusterIP: 10.0.0.12
  selector: {app: shop}
  ports: [{name: http, port: 8080, targetPort: http, appProtocol: kubernetes.io/h2c}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: shop-api-abc, namespace: web, labels: {kubernetes.io/service-name: shop-api}}
addressType: IPv4
endpoints:
- addresses: [127.0.20.1]
  conditions: {ready: true, serving: true, terminating: false}
  nodeName: n1
  zone: z1
  targetRef: {kind: Pod, name: shop-1, namespace: web}
ports: [{name: http, port: 8080, protocol: TCP}]
---
apiVersion: v1
kind: Secret
metadata: {name: wildcard-cert, namespace: infra}
type: kubernetes.io/tls
data: {tls.crt: Y2VydA==, tls.key: a2V5}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: ca, namespace: infra}
data: {ca.crt: "-----BEGIN CERTIFICATE-----"}
---
apiVersion: v1
kind: Namespace
metadata: {name: web, labels: {env: prod}}
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayParameters
metadata: {name: proxies, namespace: infra}
spec:
  image: registry.example/agw:1.2.3
  imagePullPolicy: IfNotPresent
  replicas: 3
  workers: 2
  resources: {requests: {cpu: 500m, memory: 256Mi}, limits: {memory: 1Gi}}
  autoscaling: {minReplicas: 2, maxReplicas: 10, targetCPUUtilizationPercentage: 70}
  podDisruptionBudget: {maxUnavailable: 25%}
  service: {type: NodePort}
  terminationGracePeriodSeconds: 45
  labels: {team: edge}
  annotations: {example.com/owner: edge}
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayPolicy
metadata: {name: limits, namespace: infra}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: web}]
  strategy: {inheritance: Override}
  traffic:
    timeouts: {request: 5s}
    authorization: {action: Deny, policy: {matchExpressions: ["source.address == '10.0.0.1'"]}}
  backend: {tcp: {connectTimeout: 1s}}
"""
DOCS: dict[str, dict[str, Any]] = {doc["kind"]: doc for doc in yaml.safe_load_all(MANIFESTS)}


def parse(doc: dict[str, Any]) -> Resource:
    model = served_model(doc["apiVersion"], doc["kind"])
    assert model is not None
    return model.model_validate(doc)


def is_within(written: Any, dumped: Any) -> bool:
    """Everything the user wrote is in the dump, at the same place (defaults may add more)."""
    if isinstance(written, dict):
        return isinstance(dumped, dict) and all(
            key in dumped and is_within(value, dumped[key]) for key, value in written.items()
        )
    if isinstance(written, list):
        return len(written) == len(dumped) and all(map(is_within, written, dumped))
    return bool(written == dumped)


@pytest.mark.parametrize("kind", sorted(DOCS))
def test_realistic_manifest_round_trips_through_camel_case(kind: str) -> None:
    model = parse(DOCS[kind])
    dumped = model.model_dump(by_alias=True, exclude_none=True, mode="json")
    assert is_within(DOCS[kind], dumped)
    assert parse(dumped) == model


def test_every_served_kind_has_a_manifest_here() -> None:
    assert {kind for _, kind in SERVED_KINDS} - set(DOCS) == {"XListenerSet"}


def test_crd_defaults_apply() -> None:
    route = HTTPRoute.model_validate(
        {"apiVersion": GW, "kind": "HTTPRoute", "metadata": {"name": "r"}, "spec": {
            "parentRefs": [{"name": "gw"}],
            "rules": [{"backendRefs": [{"name": "s", "port": 80}], "matches": [
                {"headers": [{"name": "a", "value": "b"}],
                 "queryParams": [{"name": "q", "value": "v"}]}
            ]}, {"filters": [{"type": "RequestRedirect", "requestRedirect": {}}]}]}}
    )  # fmt: skip
    parent, rule, redirect = route.spec.parent_refs[0], *route.spec.rules
    assert (parent.group, parent.kind) == ("gateway.networking.k8s.io", "Gateway")
    assert (rule.backend_refs[0].group, rule.backend_refs[0].kind) == ("", "Service")
    assert rule.backend_refs[0].weight == 1
    assert rule.matches[0].path.type is PathMatchType.PATH_PREFIX
    assert rule.matches[0].path.value == "/"
    assert rule.matches[0].headers[0].type is HeaderMatchType.EXACT
    assert rule.matches[0].query_params[0].type is HeaderMatchType.EXACT
    assert isinstance(redirect.filters[0], RequestRedirectFilter)
    assert redirect.filters[0].request_redirect.status_code == 302
    bare = HTTPRoute.model_validate({**DOCS["HTTPRoute"], "spec": {}})
    assert [m.path.value for m in bare.spec.rules[0].matches] == ["/"]
    assert bare.spec.rules[0].matches[0].path.type is PathMatchType.PATH_PREFIX


def test_gateway_and_other_defaults() -> None:
    gateway = Gateway.model_validate(DOCS["Gateway"])
    http, https, tls = gateway.spec.listeners[:3]
    assert http.allowed_routes.namespaces.from_ is FromNamespaces.SAME
    assert https.tls is not None and https.tls.mode is TLSModeType.TERMINATE
    assert https.tls.certificate_refs[0].kind == "Secret"
    assert https.allowed_routes.kinds[0].group == "gateway.networking.k8s.io"
    assert tls.tls is not None and tls.tls.mode is TLSModeType.PASSTHROUGH
    assert http.core_protocol() is ProtocolType.HTTP
    assert gateway.spec.addresses[0].type == "IPAddress"
    frontend = gateway.spec.tls.frontend if gateway.spec.tls else None
    assert frontend and frontend.default.validation
    assert frontend.default.validation.mode == "AllowValidOnly"
    lone = Gateway.model_validate({**DOCS["Gateway"], "spec": {"gatewayClassName": "agw",
        "listeners": [{"name": "h", "port": 80, "protocol": "http"}],
        "allowedListeners": {}}})  # fmt: skip
    assert lone.spec.allowed_listeners and lone.spec.allowed_listeners.namespaces.from_ == "None"
    assert lone.spec.listeners[0].core_protocol() is ProtocolType.HTTP
    grpc = GRPCRoute.model_validate(DOCS["GRPCRoute"])
    method = grpc.spec.rules[0].matches[0].method
    assert method is not None and method.type == "Exact"
    http_route = HTTPRoute.model_validate(DOCS["HTTPRoute"])
    filters = http_route.spec.rules[0].filters
    assert filters[2].request_mirror.fraction.denominator == 100  # type: ignore[union-attr]
    assert filters[4].cors.max_age == 5  # type: ignore[union-attr]
    persistence = http_route.spec.rules[0].session_persistence
    assert persistence is not None and persistence.type == "Cookie"


def test_metadata_keeps_what_the_translator_reads_and_drops_the_rest() -> None:
    meta = ObjectMeta.model_validate({"name": "a", "managedFields": [{}], "uid": "u1",
        "creationTimestamp": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)})  # fmt: skip
    assert meta.creation_timestamp == "2026-01-02T03:04:05Z"
    assert (meta.namespace, meta.generation, meta.labels) == ("", 1, {})
    route = HTTPRoute.model_validate({**DOCS["HTTPRoute"], "status": {"parents": []}})
    assert "status" not in route.model_dump(by_alias=True)
    assert route.key == ("web", "shop") and str(route.key) == "web/shop"
    twin = HTTPRoute.model_validate({**DOCS["HTTPRoute"], "status": {"parents": []}})
    assert {route, twin} == {route}  # hashable, although labels and options are dicts


def test_core_kinds_read_only_what_a_gateway_needs() -> None:
    secret = Secret.model_validate({**DOCS["Secret"], "stringData": {"tls.key": "fresh"}})
    assert secret.value("tls.crt") == b"cert" and secret.value("tls.key") == b"fresh"
    assert secret.value("missing") is None
    endpoint_slice = EndpointSlice.model_validate(DOCS["EndpointSlice"])
    assert endpoint_slice.service_name == "shop-api"
    assert endpoint_slice.endpoints[0].conditions.ready is True


DELETE = object()


def changed(kind: str, path: str, value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(DOCS[kind])
    *parents, last = path.split(".")
    node: Any = doc
    for step in parents:
        node = node[int(step)] if isinstance(node, list) else node[step]
    key: Any = int(last) if isinstance(node, list) else last
    if value is DELETE:
        del node[key]
    elif isinstance(node, list) and key == len(node):
        node.append(value)
    else:
        node[key] = value
    return doc


R0, R1 = "spec.rules.0", "spec.rules.1"
M0, F, B0 = f"{R0}.matches.0", f"{R0}.filters", f"{R0}.backendRefs.0"
RHM, L, V = f"{R0}.filters.0.requestHeaderModifier", "spec.listeners", "spec.validation"
H, G, GW_, BTP = "HTTPRoute", "GRPCRoute", "Gateway", "BackendTLSPolicy"
RULE = DOCS[H]["spec"]["rules"][0]
LISTENER = {"name": "x", "port": 81, "protocol": "HTTP"}
PREFIX = {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/x"}
REDIRECT_PREFIX = {"type": "RequestRedirect", "requestRedirect": {"path": PREFIX}}
REF = {"name": "s", "port": 80}
SVC = {"group": "", "kind": "Service"}
EXACT_X = [{"path": {"type": "Exact", "value": "/x"}}]
PREFIX_REF = {**REF, "filters": [REDIRECT_PREFIX]}
TWO_PREFIXES = [{"path": {"value": "/a"}}, {"path": {"value": "/b"}}]
# (kind, path, value, a fragment of the expected error): one row per rule.
RULES = [
    (H, f"{B0}.port", 70000, "less than or equal to 65535"),
    (GW_, f"{L}.0.port", 0, "greater than or equal to 1"),
    (H, f"{B0}.weight", 1_000_001, "less than or equal to 1000000"),
    (H, f"{B0}.weight", -1, "greater than or equal to 0"),
    (H, "spec.hostnames", ["Shop.example.com"], "should match pattern"),
    (H, "spec.hostnames", ["a.*.example.com"], "should match pattern"),
    (H, "spec.hostnames", [f"h{i}.example.com" for i in range(17)], "at most 16"),
    (H, "spec.parentRefs", [{"name": f"g{i}"} for i in range(33)], "at most 32"),
    (H, "spec.parentRefs", [{"name": "g"}, {"name": "g"}], "must be unique"),
    (H, "spec.parentRefs", [{"name": "g"}, {"name": "g", "port": 80}], "must be specified"),
    (H, f"{B0}.port", DELETE, "Must have port for Service reference"),
    (H, f"{B0}.namespace", "Bad_NS", "should match pattern"),
    (H, "spec.parentRefs.0.kind", "in/valid", "should match pattern"),
    (H, "spec.parentRefs.0.group", "example.com/bar", "should match pattern"),
    (H, "spec.parentRefs.0.sectionName", "Https", "should match pattern"),
    (H, f"{M0}.headers.0.name", ":method", "should match pattern"),
    (H, f"{M0}.headers.0.value", "a\x01b", "should match pattern"),
    (H, f"{M0}.headers.1.name", "x-tenant", "duplicate entry with name"),
    (H, f"{M0}.queryParams.0.value", "v" * 1025, "at most 1024"),
    (H, f"{RHM}.set", [{"name": "a", "value": "1"}] * 2, "duplicate entry"),
    (H, f"{RHM}.remove", ["x", "x"], "duplicate header name"),
    (H, f"{RHM}.remove", [f"h{i}" for i in range(17)], "at most 16"),
    (H, f"{R0}.bogus", 1, "Extra inputs are not permitted"),
    (H, f"{R0}.sessionPersistence.absoluteTimeout", DELETE, "AbsoluteTimeout must be"),
    (H, f"{R0}.timeouts.request", "1d", "should match pattern"),
    (H, f"{M0}.path.value", "api", "must be an absolute path"),
    (H, f"{M0}.path.value", "/a//b", "must not contain '//'"),
    (H, f"{M0}.path.value", "/a/../b", "must not contain '/../'"),
    (H, f"{M0}.path.value", "/a%2Fb", "must not contain '%2F'"),
    (H, f"{M0}.path.value", "/a/..", "must not end with '/..'"),
    (H, f"{M0}.path.value", "/a b", "must only contain valid characters"),
    (H, f"{M0}.path.value", "/" * 1025, "at most 1024"),
    (H, f"{M0}.path.type", "Prefix", "Input should be 'Exact'"),
    (H, f"{M0}.method", "FETCH", "Input should be 'GET'"),
    (H, f"{F}.0.type", "Nope", "does not match any of the expected tags"),
    (H, f"{F}.0.urlRewrite", {}, "Extra inputs are not permitted"),
    (H, RHM, DELETE, "Field required"),
    (H, f"{F}.0", REDIRECT_PREFIX, "May specify either"),
    (H, f"{F}.6", RULE["filters"][0], "RequestHeaderModifier filter cannot be repeated"),
    (H, f"{R1}.backendRefs", [REF], "must not be used together with backendRefs"),
    (H, f"{R1}.filters.0", REDIRECT_PREFIX, "exactly one PathPrefix match"),
    (H, f"{R0}.matches", TWO_PREFIXES, "exactly one PathPrefix match"),
    (H, "spec.rules.2", {"matches": EXACT_X, "backendRefs": [PREFIX_REF]}, "exactly one"),
    (H, f"{F}.3.urlRewrite.path.replaceFullPath", "/x", "must be 'ReplaceFullPath'"),
    (H, f"{F}.3.urlRewrite.path.replacePrefixMatch", DELETE, "must be specified"),
    (H, f"{R1}.filters.0.requestRedirect.statusCode", 304, "Input should be 301"),
    (H, f"{R1}.filters.0.requestRedirect.scheme", "ftp", "Input should be 'http'"),
    (H, f"{F}.2.requestMirror.percent", 50, "Only one of percent or fraction"),
    (H, f"{F}.2.requestMirror.fraction.numerator", 200, "less than or equal to denominator"),
    (H, f"{F}.4.cors.allowOrigins", ["*", "https://a.b"], "cannot contain '*'"),
    (H, f"{F}.4.cors.allowOrigins", ["not an origin"], "should match pattern"),
    (H, f"{F}.4.cors.allowMethods", ["FETCH"], "Input should be 'GET'"),
    (H, f"{F}.4.cors.maxAge", 0, "greater than or equal to 1"),
    (H, f"{F}.5.externalAuth.protocol", "GRPC", "protocol must be 'HTTP'"),
    (H, f"{R0}.timeouts.backendRequest", "11s", "cannot be longer than request"),
    (H, f"{R0}.retry.codes", [600], "between 400 and 599"),
    (H, f"{R0}.retry.codes", [503, 503], "duplicate retry code"),
    (H, "spec.rules", [{}] * 17, "at most 16"),
    (H, "spec.rules", [], "at least 1"),
    (H, f"{R0}.matches", [{}] * 65, "at most 64"),
    (H, "spec.rules", [{"matches": [{}] * 64}] * 3, "must be less than 128"),
    (H, f"{R1}.name", "api", "Rule name must be unique"),
    (H, f"{R0}.name", "API", "should match pattern"),
    (G, f"{M0}.method", {"type": "Exact"}, "One or both of 'service' or 'method'"),
    (G, f"{M0}.method.service", "a/b", "service must only contain"),
    (G, f"{M0}.method.method", "Say.Hello", "method must only contain"),
    (G, f"{F}.0.type", "URLRewrite", "does not match any of the expected tags"),
    (G, f"{R0}.matches", [{}] * 9, "at most 8"),
    (GW_, f"{L}.1.name", "http", "Listener name must be unique"),
    (GW_, f"{L}.4", {**LISTENER, "name": "y", "port": 80}, "port, protocol and hostname"),
    (GW_, f"{L}.0.tls", {"certificateRefs": [{"name": "c"}]}, "tls must not be specified"),
    (GW_, f"{L}.1.tls.mode", "Passthrough", "tls mode must be Terminate"),
    (GW_, f"{L}.2.tls", DELETE, "tls mode must be set for protocol TLS"),
    (GW_, f"{L}.3.hostname", "a.example.com", "hostname must not be specified"),
    (GW_, f"{L}.0.protocol", "foo.com", "should match pattern"),
    (GW_, f"{L}.1.tls.certificateRefs", [], "certificateRefs or options must be specified"),
    (GW_, f"{L}.3.allowedRoutes.namespaces.from", "None", "'All', 'Selector' or 'Same'"),
    (GW_, L, [], "at least 1"),
    (GW_, "spec.addresses", [{"value": "10.0.0.1"}] * 2, "IPAddress values must be unique"),
    (GW_, "spec.addresses", [{"value": "not-an-ip"}], "is not a valid IP address"),
    (GW_, "spec.addresses", [{"type": "Hostname", "value": "A_B"}], "Hostname value must be"),
    (GW_, "spec.addresses", [{"type": "nope"}], "should match pattern"),
    (GW_, "spec.infrastructure.labels", {f"k{i}": "v" for i in range(9)}, "at most 8"),
    (GW_, "spec.infrastructure.labels", {"bad key!": "v"}, "should match pattern"),
    (GW_, "spec.tls.frontend.perPort", [{"port": 1, "tls": {}}] * 2, "Port for TLS configuration"),
    (GW_, "spec.tls.frontend.default.validation.caCertificateRefs", [], "at least 1"),
    (GW_, "spec.gatewayClassName", DELETE, "Field required"),
    (GW_, "spec.defaultScope", "Some", "Input should be 'All' or 'None'"),
    ("GatewayClass", "spec.controllerName", "example.com", "should match pattern"),
    ("GatewayClass", "spec.description", "d" * 65, "at most 64"),
    ("ListenerSet", L, [LISTENER, {**LISTENER, "name": "y", "protocol": "http"}], "must be unique"),
    ("ListenerSet", "spec.parentRef.name", DELETE, "Field required"),
    ("TLSRoute", "spec.hostnames", ["10.1.2.3"], "Hostnames cannot contain an IP"),
    ("TLSRoute", "spec.rules", [{"backendRefs": [REF]}] * 2, "a v1 TLSRoute has at most 1 rule"),
    ("TLSRoute", "spec.hostnames", [], "a v1 TLSRoute needs at least 1 hostname"),
    ("TLSRoute", f"{R0}.backendRefs", [], "at least 1"),
    ("TCPRoute", "spec.rules", [{"backendRefs": [REF]}] * 2, "a v1 TCPRoute has at most 1 rule"),
    ("UDPRoute", "spec.rules", [], "at least 1"),
    ("ReferenceGrant", "spec.from", [], "at least 1"),
    ("ReferenceGrant", "spec.to", [SVC] * 17, "at most 16"),
    ("ReferenceGrant", "spec.from.0.namespace", DELETE, "Field required"),
    (BTP, f"{V}.wellKnownCACertificates", "System", "must not contain both"),
    (BTP, f"{V}.caCertificateRefs", [], "must specify either"),
    (BTP, f"{V}.wellKnownCACertificates", "Other", "Input should be 'System'"),
    (BTP, f"{V}.subjectAltNames.0.hostname", DELETE, "must contain Hostname"),
    (BTP, f"{V}.subjectAltNames.1.hostname", "a.b", "must not contain Hostname"),
    (BTP, f"{V}.subjectAltNames", [{"type": "URI", "uri": "s://a"}] * 6, "at most 5"),
    (BTP, "spec.targetRefs", [{**SVC, "name": "s"}] * 2, "must be unique"),
    ("Service", "spec.ports.0.port", 0, "greater than or equal to 1"),
    ("Secret", "data", {"tls.crt": "not base64!"}, "is not valid base64"),
    ("EndpointSlice", "endpoints.0.addresses", [], "at least 1"),
    ("Namespace", "metadata.name", "Bad_Name", "should match pattern"),
]  # fmt: skip


@pytest.mark.parametrize(("kind", "path", "value", "expected"), RULES)
def test_validation_rule_rejects(kind: str, path: str, value: Any, expected: str) -> None:
    with pytest.raises(ValidationError) as raised:
        parse(changed(kind, path, value))
    assert expected in str(raised.value)


ACCEPTED = [
    (H, f"{R1}.matches.0.path", {"type": "RegularExpression", "value": "^/a//b$"}),
    (H, f"{R0}.timeouts", {"request": "0s", "backendRequest": "1h"}),
    (G, f"{M0}.method", {"type": "RegularExpression", "service": "a/b"}),
    (GW_, f"{L}.0.protocol", "example.com/custom"),
    (GW_, f"{L}.4", {**LISTENER, "name": "y", "port": 80, "protocol": "http"}),
    ("TLSRoute", "apiVersion", "gateway.networking.k8s.io/v1alpha2"),
    ("Service", "spec.unknownField", {"ignored": True}),
]


@pytest.mark.parametrize(("kind", "path", "value"), ACCEPTED)
def test_valid_edge_cases_are_accepted(kind: str, path: str, value: Any) -> None:
    parse(changed(kind, path, value))


def test_version_specific_limits_follow_the_apiversion() -> None:
    two_rules = changed("TCPRoute", "spec.rules", [{"backendRefs": [REF]}] * 2)
    parse({**two_rules, "apiVersion": "gateway.networking.k8s.io/v1alpha2"})
    no_hosts = changed("TLSRoute", "spec.hostnames", DELETE)
    parse({**no_hosts, "apiVersion": "gateway.networking.k8s.io/v1alpha3"})


def test_custom_protocol_loads_but_is_not_core() -> None:
    gateway = parse(changed("Gateway", "spec.listeners.0.protocol", "example.com/custom"))
    assert isinstance(gateway, Gateway)
    assert gateway.spec.listeners[0].core_protocol() is None


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("1h2m3s", 3723.0), ("500ms", 0.5), ("0s", 0.0), ("1m500ms", 60.5), ("99999h", 359996400.0)],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "1d", "1.5s", "123456s", "1h2m3s4ms5h", "-1s", "1 s"])
def test_parse_duration_rejects_non_gep_2257_text(text: str) -> None:
    with pytest.raises(ValueError, match="not a Gateway API duration"):
        parse_duration(text)


def test_models_are_frozen() -> None:
    route = HTTPRoute.model_validate(DOCS["HTTPRoute"])
    with pytest.raises(ValidationError, match="frozen"):
        route.spec.hostnames = ()  # type: ignore[misc]
