"""Every Envoy resource name agw emits. Names are human-readable because they show up in
config dumps, stats and golden files; they are also stable, so unchanged objects keep their
names (and their xDS content hashes) across translations."""

from __future__ import annotations


def listener(gateway_ns: str, gateway: str, port: int) -> str:
    return f"{gateway_ns}/{gateway}/{port}"


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


def service_cluster(namespace: str, service: str, port: int) -> str:
    return f"service/{namespace}/{service}/{port}"


def secret(namespace: str, name: str) -> str:
    return f"secret/{namespace}/{name}"
