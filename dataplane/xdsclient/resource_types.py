"""The xDS resource types the agw proxy subscribes to, and how each names its resources.

The dataplane speaks only xDS, so these type URLs are spelled here rather than borrowed from
the translator. LDS and CDS are wildcard subscriptions; the other three are explicit, by the
names current listeners and clusters refer to.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from envoy.config.cluster.v3.cluster_pb2 import Cluster
from envoy.config.endpoint.v3.endpoint_pb2 import ClusterLoadAssignment
from envoy.config.listener.v3.listener_pb2 import Listener
from envoy.config.route.v3.route_pb2 import RouteConfiguration
from envoy.extensions.transport_sockets.tls.v3.secret_pb2 import Secret

from dataplane.xdsclient.errors import ResourceUndecodable

_PREFIX = "type.googleapis.com/"

LISTENER = _PREFIX + "envoy.config.listener.v3.Listener"
ROUTE_CONFIGURATION = _PREFIX + "envoy.config.route.v3.RouteConfiguration"
CLUSTER = _PREFIX + "envoy.config.cluster.v3.Cluster"
CLUSTER_LOAD_ASSIGNMENT = _PREFIX + "envoy.config.endpoint.v3.ClusterLoadAssignment"
SECRET = _PREFIX + "envoy.extensions.transport_sockets.tls.v3.Secret"

# Subscribed to everything the control plane has for this node.
WILDCARD_TYPES = (CLUSTER, LISTENER)
# Subscribed by name; the names follow the wildcard types' contents.
EXPLICIT_TYPES = (CLUSTER_LOAD_ASSIGNMENT, ROUTE_CONFIGURATION, SECRET)
# State-of-the-world responses of these types carry every resource: absence means removal.
FULL_STATE_TYPES = frozenset(WILDCARD_TYPES)
ALL_TYPES = (SECRET, CLUSTER, CLUSTER_LOAD_ASSIGNMENT, LISTENER, ROUTE_CONFIGURATION)

_MESSAGES: MappingProxyType[str, Any] = MappingProxyType(
    {
        LISTENER: Listener,
        ROUTE_CONFIGURATION: RouteConfiguration,
        CLUSTER: Cluster,
        CLUSTER_LOAD_ASSIGNMENT: ClusterLoadAssignment,
        SECRET: Secret,
    }
)

SHORT_NAMES: MappingProxyType[str, str] = MappingProxyType(
    {url: url.rsplit(".", 1)[-1] for url in ALL_TYPES}
)


def is_known(type_url: str) -> bool:
    return type_url in _MESSAGES


def decode(type_url: str, serialized: bytes) -> Any:
    """Parse one resource; raises ``ResourceUndecodable`` naming the type on garbage."""
    message_class = _MESSAGES.get(type_url)
    if message_class is None:
        raise ResourceUndecodable(f"type {type_url!r} is not supported by the agw proxy")
    message = message_class()
    try:
        message.ParseFromString(serialized)
    except Exception as error:  # upb raises DecodeError; any failure means the same here
        raise ResourceUndecodable(f"{SHORT_NAMES[type_url]}: cannot decode: {error}") from None
    return message


def resource_name(type_url: str, message: Any) -> str:
    """The name a resource is known by: ClusterLoadAssignments go by their cluster name."""
    if type_url == CLUSTER_LOAD_ASSIGNMENT:
        return str(message.cluster_name)
    return str(message.name)
