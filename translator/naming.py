"""Every Envoy resource name agw emits. Names are human-readable because they show up in
config dumps, stats and golden files; they are also stable, so unchanged objects keep their
names (and their xDS content hashes) across translations."""

from __future__ import annotations

# Where a weighted route sends the share of an invalid backendRef: a cluster with no
# endpoints (HTTP routes answer that share 500 before reaching it; TCP connections close).
INVALID_BACKEND_CLUSTER = "agw/invalid-backend"


def listener(gateway_ns: str, gateway: str, port: int, transport: str = "") -> str:
    """``transport`` is "udp" for a UDP listener, which may share its port number."""
    base = f"{gateway_ns}/{gateway}/{port}"
    return f"{base}/{transport}" if transport else base


def http_route_config(gateway_ns: str, gateway: str, port: int) -> str:
    """The one RouteConfiguration shared by every plain-HTTP Gateway listener on a port."""
    return f"{gateway_ns}/{gateway}/{port}"


def https_route_config(gateway_ns: str, gateway: str, port: int, section: str) -> str:
    """HTTPS listeners each get their own RouteConfiguration: isolation by SNI."""
    return f"{gateway_ns}/{gateway}/{port}/{section}"


def filter_chain(gateway_ns: str, gateway: str, port: int, section: str = "") -> str:
    base = f"{gateway_ns}/{gateway}/{port}"
    return f"{base}/{section}" if section else base


def virtual_host(route_config: str, hostname: str) -> str:
    return f"{route_config}/{hostname}"


def http_route_rule(
    namespace: str, name: str, rule: int, match: int, kind: str = "httproute"
) -> str:
    return f"{kind}/{namespace}/{name}/rule/{rule}/match/{match}"


def service_cluster(namespace: str, service: str, port: int, variant: str = "") -> str:
    """``variant`` tells apart clusters of one Service port spoken to in another protocol
    (a GRPCRoute always uses HTTP/2, whatever the port's appProtocol)."""
    base = f"service/{namespace}/{service}/{port}"
    return f"{base}/{variant}" if variant else base


def secret(namespace: str, name: str) -> str:
    return f"secret/{namespace}/{name}"


def l4_route_cluster(kind: str, namespace: str, name: str, rule: int) -> str:
    """A cluster merging a rule's weighted backends, for proxies without weighted clusters (UDP)."""
    return f"{kind.lower()}/{namespace}/{name}/rule/{rule}"


def l4_filter_chain(gateway_ns: str, gateway: str, port: int, section: str, route: str = "") -> str:
    base = f"{gateway_ns}/{gateway}/{port}/{section}"
    return f"{base}/{route}" if route else base


def ca_bundle(namespace: str, owner: str, kind: str = "backendtlspolicy") -> str:
    """The SDS validation-context secret holding the CA certificates an object trusts."""
    return f"ca/{kind}/{namespace}/{owner}"


def ext_auth_filter(cluster: str, settings_digest: str) -> str:
    """One HTTP filter per distinct external-auth settings: routes that ask the same service
    the same way share it; the digest tells apart other settings for the same service."""
    return f"envoy.filters.http.ext_authz/{cluster}/{settings_digest}"


def rate_limit_filter(cluster: str, settings_digest: str) -> str:
    """One rate limit filter per distinct service settings (cluster, domain, failure mode)."""
    return f"envoy.filters.http.ratelimit/{cluster}/{settings_digest}"


def route_rule_cluster(kind: str, namespace: str, name: str, rule: int) -> str:
    """A cluster merging an HTTP rule's weighted backends, so that session persistence can
    pin any of their endpoints (a session token names an endpoint within one cluster)."""
    return f"{kind.lower()}/{namespace}/{name}/rule/{rule}/sticky"
