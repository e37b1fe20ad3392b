"""The proxy's view of its xDS resources as an ``envoy.admin.v3.ConfigDump`` (JSON data with
proto field names, as Envoy's ``/config_dump`` prints it), so it diffs against the control
plane's ``/debug/config_dump`` and against Envoy's own dump.

Listeners show the version serving in ``active_state`` and a version waiting for its
references in ``warming_state``; clusters waiting for endpoints are
``dynamic_warming_clusters``. Private keys and passwords read ``[redacted]``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from envoy.admin.v3 import config_dump_pb2, config_dump_shared_pb2
from envoy.config.core.v3 import base_pb2
from envoy.extensions.transport_sockets.tls.v3 import secret_pb2
from google.protobuf import json_format
from google.protobuf.any_pb2 import Any as AnyProto
from google.protobuf.timestamp_pb2 import Timestamp

from dataplane.xdsclient.client import XdsClient
from dataplane.xdsclient.resource_types import (
    CLUSTER,
    CLUSTER_LOAD_ASSIGNMENT,
    LISTENER,
    ROUTE_CONFIGURATION,
    SECRET,
)
from dataplane.xdsclient.store import StoredResource

REDACTED = "[redacted]"
_Listeners = config_dump_shared_pb2.ListenersConfigDump
_Clusters = config_dump_shared_pb2.ClustersConfigDump
_Routes = config_dump_shared_pb2.RoutesConfigDump
_Endpoints = config_dump_shared_pb2.EndpointsConfigDump
_Secrets = config_dump_pb2.SecretsConfigDump


def config_dump(client: XdsClient, *, include_eds: bool = False) -> dict[str, Any]:
    sections = [_clusters(client)]
    if include_eds:
        sections.append(_endpoints(client))
    sections += [_listeners(client), _routes(client), _secrets(client)]
    dump = config_dump_pb2.ConfigDump(configs=[_pack(section) for section in sections])
    data: dict[str, Any] = json_format.MessageToDict(dump, preserving_proto_field_name=True)
    return data


def _clusters(client: XdsClient) -> Any:
    selection = client.selection
    warming_names = set(client.update.config.warming_clusters)
    active, warming = [], []
    for name, resource in sorted(selection.effective.get(CLUSTER, {}).items()):
        if name not in warming_names:
            active.append(_cluster(resource))
    for _, resource in sorted(selection.warming.get(CLUSTER, {}).items()):
        warming.append(_cluster(resource))
    return _Clusters(
        version_info=client.status.of(CLUSTER).accepted_version,
        dynamic_active_clusters=active,
        dynamic_warming_clusters=warming,
    )


def _cluster(resource: StoredResource) -> Any:
    return _Clusters.DynamicCluster(
        version_info=resource.version,
        cluster=_raw(CLUSTER, resource),
        last_updated=_timestamp(resource.received_at),
    )


def _listeners(client: XdsClient) -> Any:
    selection = client.selection
    effective = selection.effective.get(LISTENER, {})
    waiting = selection.warming.get(LISTENER, {})
    listeners = []
    for name in sorted(effective.keys() | waiting.keys()):
        entry = _Listeners.DynamicListener(name=name)
        serving = effective.get(name)
        if serving is not None and waiting.get(name) is not serving:
            entry.active_state.CopyFrom(_listener_state(serving))
        if name in waiting:
            entry.warming_state.CopyFrom(_listener_state(waiting[name]))
        listeners.append(entry)
    return _Listeners(
        version_info=client.status.of(LISTENER).accepted_version, dynamic_listeners=listeners
    )


def _listener_state(resource: StoredResource) -> Any:
    return _Listeners.DynamicListenerState(
        version_info=resource.version,
        listener=_raw(LISTENER, resource),
        last_updated=_timestamp(resource.received_at),
    )


def _routes(client: XdsClient) -> Any:
    return _Routes(
        dynamic_route_configs=[
            _Routes.DynamicRouteConfig(
                version_info=res.version,
                route_config=_raw(ROUTE_CONFIGURATION, res),
                last_updated=_timestamp(res.received_at),
            )
            for res in _sorted(client.store.of(ROUTE_CONFIGURATION).values())
        ]
    )


def _endpoints(client: XdsClient) -> Any:
    return _Endpoints(
        dynamic_endpoint_configs=[
            _Endpoints.DynamicEndpointConfig(
                version_info=res.version,
                endpoint_config=_raw(CLUSTER_LOAD_ASSIGNMENT, res),
                last_updated=_timestamp(res.received_at),
            )
            for res in _sorted(client.store.of(CLUSTER_LOAD_ASSIGNMENT).values())
        ]
    )


def _secrets(client: XdsClient) -> Any:
    return _Secrets(
        dynamic_active_secrets=[
            _Secrets.DynamicSecret(
                name=res.name,
                version_info=res.version,
                secret=_pack(redacted(res.message)),
                last_updated=_timestamp(res.received_at),
            )
            for res in _sorted(client.store.of(SECRET).values())
        ]
    )


def redacted(secret: Any) -> Any:
    """A copy of ``secret`` with its private key and password replaced by ``[redacted]``."""
    copy = secret_pb2.Secret()
    copy.CopyFrom(secret)
    certificate = copy.tls_certificate
    for field in ("private_key", "password"):
        if certificate.HasField(field):
            getattr(certificate, field).CopyFrom(base_pb2.DataSource(inline_string=REDACTED))
    return copy


def _sorted(resources: Iterable[StoredResource]) -> list[StoredResource]:
    return sorted(resources, key=lambda res: res.name)


def _raw(type_url: str, resource: StoredResource) -> AnyProto:
    # The bytes as received: nothing is re-serialized for a dump.
    return AnyProto(type_url=type_url, value=resource.serialized)


def _pack(message: Any) -> AnyProto:
    packed = AnyProto()
    packed.Pack(message)
    return packed


def _timestamp(seconds: float) -> Timestamp:
    stamp = Timestamp()
    stamp.FromNanoseconds(int(seconds * 1e9))
    return stamp
