"""Hand-built gateway IRs shared by the stage-2 tests, and a self-signed certificate maker.

``feature_gateway`` exercises every route feature stage 2 knows on one plain-HTTP listener;
``tls_gateway`` has two HTTPS filter chains (one by SNI, one catch-all). Both take addresses so
the real-Envoy tests can point them at loopback backends.
"""

from __future__ import annotations

import datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from translator.ir import (
    Cluster,
    DirectResponseAction,
    DownstreamTls,
    Endpoint,
    ForwardAction,
    GatewayIR,
    HeaderMatch,
    HeaderMutation,
    HeaderValue,
    HttpFilterChain,
    Listener,
    ListenerProtocol,
    Mirror,
    PathMatch,
    PathMatchKind,
    PathRewrite,
    PathRewriteKind,
    QueryParamMatch,
    RedirectAction,
    RetryPolicy,
    Route,
    RouteAction,
    RouteConfig,
    RouteMatch,
    StringMatchKind,
    TlsCertificate,
    UpstreamProtocol,
    VirtualHost,
    WeightedBackend,
)

CLUSTER_A = "service/default/a/80"
CLUSTER_B = "service/default/b/80"
CLUSTER_H2C = "service/default/grpc/9000"
HTTP_ROUTES = "default/gw/http"
HTTP_LISTENER = "default/gw/http"
ROOT_REWRITE_HOST = "root-rewrite.example"
ENDPOINT_A = Endpoint("127.0.0.2", 8000)
ENDPOINT_B = Endpoint("127.0.0.3", 8000)


def prefix(value: str) -> RouteMatch:
    return RouteMatch(path=PathMatch(PathMatchKind.PREFIX, value))


def to_a(**options: Any) -> ForwardAction:
    return ForwardAction(backends=(WeightedBackend(CLUSTER_A, 1),), **options)


def route(name: str, match: RouteMatch, action: RouteAction, **options: Any) -> Route:
    return Route(name=f"r/{name}", match=match, action=action, **options)


def rewrite_routes() -> tuple[Route, ...]:
    full = PathRewrite(PathRewriteKind.FULL, "/replaced")
    return (
        route("full", prefix("/full"), to_a(path_rewrite=full)),
        route(
            "pfx", prefix("/pfx"), to_a(path_rewrite=PathRewrite(PathRewriteKind.PREFIX, "/new"))
        ),
        route(
            "pfx-slash",
            prefix("/strip/"),
            to_a(path_rewrite=PathRewrite(PathRewriteKind.PREFIX, "/new/")),
        ),
        route(
            "to-root", prefix("/root"), to_a(path_rewrite=PathRewrite(PathRewriteKind.PREFIX, "/"))
        ),
        route("host", prefix("/host"), to_a(host_rewrite="rewritten.example")),
    )


def redirect_routes() -> tuple[Route, ...]:
    return (
        route("https", prefix("/redirect/https"), RedirectAction(scheme="https")),
        route("https-443", prefix("/redirect/443"), RedirectAction(scheme="https", port=443)),
        route("http-80", prefix("/redirect/80"), RedirectAction(scheme="http", port=80)),
        route("strip", prefix("/redirect/strip"), RedirectAction(hostname="x.example", port=0)),
        route("port", prefix("/redirect/port"), RedirectAction(port=8443, status_code=301)),
        route(
            "path",
            prefix("/redirect/path"),
            RedirectAction(path=PathRewrite(PathRewriteKind.FULL, "/elsewhere"), status_code=308),
        ),
        route(
            "prefix",
            prefix("/redirect/prefix"),
            RedirectAction(path=PathRewrite(PathRewriteKind.PREFIX, "/moved"), status_code=307),
        ),
    )


def backend_routes() -> tuple[Route, ...]:
    both = (WeightedBackend(CLUSTER_A, 1), WeightedBackend(CLUSTER_B, 1))
    return (
        route("split", prefix("/split"), ForwardAction(backends=both)),
        route(
            "half-invalid",
            prefix("/half-invalid"),
            ForwardAction(backends=(WeightedBackend(CLUSTER_A, 1), WeightedBackend(None, 1))),
        ),
        route("invalid", prefix("/invalid"), ForwardAction(backends=(WeightedBackend(None, 1),))),
        route("no-backends", prefix("/none"), ForwardAction(backends=())),
        route(
            "backend-headers",
            prefix("/backend-headers"),
            ForwardAction(
                backends=(
                    WeightedBackend(
                        CLUSTER_A,
                        1,
                        request_headers=HeaderMutation(set=(HeaderValue("x-backend", "a"),)),
                        response_headers=HeaderMutation(add=(HeaderValue("x-served", "a"),)),
                    ),
                )
            ),
        ),
        route("mirror", prefix("/mirror"), to_a(mirrors=(Mirror(CLUSTER_B),))),
        route("ws", prefix("/ws"), to_a(allow_websocket=True)),
        route("grpc", prefix("/grpc"), ForwardAction(backends=(WeightedBackend(CLUSTER_H2C, 1),))),
    )


def policy_routes() -> tuple[Route, ...]:
    retry = RetryPolicy(attempts=2, status_codes=(503,), backoff_seconds=0.01)
    return (
        route("timeout", prefix("/timeout"), to_a(request_timeout=0.3)),
        route("no-timeout", prefix("/no-timeout"), to_a(request_timeout=0.0)),
        route(
            "retry",
            prefix("/retry"),
            to_a(retry=retry, request_timeout=5.0, backend_request_timeout=1.0),
        ),
        route(
            "headers",
            prefix("/headers"),
            to_a(),
            request_headers=HeaderMutation(
                set=(HeaderValue("x-set", "set"),),
                add=(HeaderValue("x-add", "added"),),
                remove=("x-remove",),
            ),
            response_headers=HeaderMutation(set=(HeaderValue("x-response", "yes"),)),
            origin="HTTPRoute/default/headers",
        ),
        route("teapot", prefix("/teapot"), DirectResponseAction(418, "short and stout")),
    )


def match_routes() -> tuple[Route, ...]:
    return (
        route("exact", RouteMatch(path=PathMatch(PathMatchKind.EXACT, "/exact")), to_a()),
        route(
            "regex",
            RouteMatch(path=PathMatch(PathMatchKind.REGEX, "/re/[0-9]+")),
            DirectResponseAction(200, "regex"),
        ),
        route(
            "method",
            RouteMatch(
                path=PathMatch(PathMatchKind.PREFIX, "/match"),
                headers=(
                    HeaderMatch(":method", StringMatchKind.EXACT, "POST"),
                    HeaderMatch("x-version", StringMatchKind.REGEX, "v[12]"),
                ),
                query_params=(QueryParamMatch("debug", StringMatchKind.EXACT, "1"),),
            ),
            DirectResponseAction(200, "matched"),
        ),
        route("segment", prefix("/seg"), DirectResponseAction(200, "segment")),
    )


def feature_gateway(
    *,
    address: str = "127.0.0.1",
    port: int = 8080,
    endpoint_a: Endpoint = ENDPOINT_A,
    endpoint_b: Endpoint = ENDPOINT_B,
) -> GatewayIR:
    routes = (
        rewrite_routes() + redirect_routes() + backend_routes() + policy_routes() + match_routes()
    )
    return GatewayIR(
        namespace="default",
        name="gw",
        listeners=(
            Listener(
                name=HTTP_LISTENER,
                address=address,
                port=port,
                protocol=ListenerProtocol.HTTP,
                filter_chains=(HttpFilterChain(HTTP_LISTENER, (), HTTP_ROUTES),),
            ),
        ),
        route_configs=(
            RouteConfig(
                HTTP_ROUTES,
                (
                    VirtualHost(
                        f"{HTTP_ROUTES}/{ROOT_REWRITE_HOST}",
                        (ROOT_REWRITE_HOST,),
                        (
                            route(
                                "root-rewrite",
                                prefix("/"),
                                to_a(path_rewrite=PathRewrite(PathRewriteKind.PREFIX, "/base")),
                            ),
                        ),
                    ),
                    VirtualHost(
                        f"{HTTP_ROUTES}/*", ("*",), (*routes, route("root", prefix("/"), to_a()))
                    ),
                ),
            ),
        ),
        clusters=(
            Cluster(CLUSTER_A, (endpoint_a,), origin="Service/default/a:80"),
            Cluster(CLUSTER_B, (endpoint_b,)),
            Cluster(CLUSTER_H2C, (endpoint_b,), protocol=UpstreamProtocol.H2C),
        ),
        secrets=(),
    )


def tls_gateway(
    *,
    address: str = "127.0.0.1",
    port: int = 8443,
    named: TlsCertificate,
    fallback: TlsCertificate,
    endpoint: Endpoint = ENDPOINT_A,
) -> GatewayIR:
    """Chain ``a`` serves SNI ``a.example.com`` with ``named``; the catch-all uses ``fallback``."""
    chains = (
        HttpFilterChain(
            "default/gw/https/a",
            ("a.example.com",),
            "default/gw/https/a",
            DownstreamTls((named.name,)),
        ),
        HttpFilterChain(
            "default/gw/https/any",
            (),
            "default/gw/https/any",
            DownstreamTls((fallback.name,), ("http/1.1",)),
        ),
    )
    return GatewayIR(
        namespace="default",
        name="gw",
        listeners=(Listener("default/gw/https", address, port, ListenerProtocol.HTTPS, chains),),
        route_configs=tuple(
            RouteConfig(
                chain.route_config,
                (
                    VirtualHost(
                        f"{chain.route_config}/*", ("*",), (route("tls", prefix("/"), to_a()),)
                    ),
                ),
            )
            for chain in chains
        ),
        clusters=(Cluster(CLUSTER_A, (endpoint,)),),
        secrets=(fallback, named),
    )


def merge_gateways(*gateways: GatewayIR) -> GatewayIR:
    """One gateway serving all their listeners; clusters with one name are assumed equal."""
    clusters: dict[str, Cluster] = {}
    for gateway in gateways:
        clusters.update((cluster.name, cluster) for cluster in gateway.clusters)
    return GatewayIR(
        namespace="default",
        name="gw",
        listeners=tuple(listener for g in gateways for listener in g.listeners),
        route_configs=tuple(config for g in gateways for config in g.route_configs),
        clusters=tuple(clusters[name] for name in sorted(clusters)),
        secrets=tuple(secret for g in gateways for secret in g.secrets),
    )


def self_signed(name: str, hostname: str) -> TlsCertificate:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return TlsCertificate(
        name=name,
        certificate_chain=certificate.public_bytes(serialization.Encoding.PEM).decode(),
        private_key=key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode(),
    )
