"""The xDS type URLs agw serves, and the order a push sends them in."""

from __future__ import annotations

_PREFIX = "type.googleapis.com/"

LISTENER = _PREFIX + "envoy.config.listener.v3.Listener"
ROUTE_CONFIGURATION = _PREFIX + "envoy.config.route.v3.RouteConfiguration"
CLUSTER = _PREFIX + "envoy.config.cluster.v3.Cluster"
CLUSTER_LOAD_ASSIGNMENT = _PREFIX + "envoy.config.endpoint.v3.ClusterLoadAssignment"
SECRET = _PREFIX + "envoy.extensions.transport_sockets.tls.v3.Secret"

# Make-before-break: a resource goes out before anything that refers to it. Secrets lead
# because both listeners (downstream TLS) and, once upstream TLS exists, clusters use them;
# then CDS, EDS (clusters warm until their endpoints arrive), LDS, and RDS last, since
# listeners warm until their route configuration arrives.
PUSH_ORDER: tuple[str, ...] = (
    SECRET,
    CLUSTER,
    CLUSTER_LOAD_ASSIGNMENT,
    LISTENER,
    ROUTE_CONFIGURATION,
)
