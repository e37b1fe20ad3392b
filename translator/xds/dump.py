"""Resources as plain data: canonical dicts for golden files, and Envoy's ConfigDump shape.

Both use proto field names, as Envoy's own ``/config_dump`` does, so a control-plane dump and
a proxy dump can be diffed. Private keys never leave: they read ``[redacted]``, Envoy's word.
Times are left out (golden output must not change from run to run).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from envoy.admin.v3 import config_dump_pb2, config_dump_shared_pb2
from envoy.config.core.v3 import base_pb2
from envoy.extensions.transport_sockets.tls.v3 import secret_pb2
from google.protobuf import json_format
from google.protobuf.message import Message

from translator.xds.extensions import pack
from translator.xds.resources import XdsResources

REDACTED = "[redacted]"


def resources_to_dicts(resources: XdsResources) -> dict[str, Any]:
    """``{kind: {name: resource}}`` with every mapping's keys sorted, secrets redacted."""
    kinds = {
        "clusters": resources.clusters,
        "endpoints": resources.endpoints,
        "listeners": resources.listeners,
        "route_configs": resources.route_configs,
        "secrets": _redacted_secrets(resources.secrets),
    }
    return {
        kind: {name: _sorted(_to_dict(message)) for name, message in sorted(named.items())}
        for kind, named in kinds.items()
    }


def config_dump(resources: XdsResources, version: str) -> dict[str, Any]:
    """An ``envoy.admin.v3.ConfigDump`` as JSON data; every resource is dynamic at ``version``."""
    sections = [
        _clusters_dump(resources, version),
        _endpoints_dump(resources, version),
        _listeners_dump(resources, version),
        _routes_dump(resources, version),
        _secrets_dump(resources, version),
    ]
    return _to_dict(config_dump_pb2.ConfigDump(configs=[pack(section) for section in sections]))


def _clusters_dump(resources: XdsResources, version: str) -> Message:
    dump = config_dump_shared_pb2.ClustersConfigDump
    return dump(
        version_info=version,
        dynamic_active_clusters=[
            dump.DynamicCluster(version_info=version, cluster=pack(cluster))
            for cluster in resources.clusters.values()
        ],
    )


def _endpoints_dump(resources: XdsResources, version: str) -> Message:
    dump = config_dump_shared_pb2.EndpointsConfigDump
    return dump(
        dynamic_endpoint_configs=[
            dump.DynamicEndpointConfig(version_info=version, endpoint_config=pack(assignment))
            for assignment in resources.endpoints.values()
        ],
    )


def _listeners_dump(resources: XdsResources, version: str) -> Message:
    dump = config_dump_shared_pb2.ListenersConfigDump
    return dump(
        version_info=version,
        dynamic_listeners=[
            dump.DynamicListener(
                name=name,
                active_state=dump.DynamicListenerState(
                    version_info=version, listener=pack(listener)
                ),
            )
            for name, listener in resources.listeners.items()
        ],
    )


def _routes_dump(resources: XdsResources, version: str) -> Message:
    dump = config_dump_shared_pb2.RoutesConfigDump
    return dump(
        dynamic_route_configs=[
            dump.DynamicRouteConfig(version_info=version, route_config=pack(config))
            for config in resources.route_configs.values()
        ],
    )


def _secrets_dump(resources: XdsResources, version: str) -> Message:
    dump = config_dump_pb2.SecretsConfigDump
    return dump(
        dynamic_active_secrets=[
            dump.DynamicSecret(name=name, version_info=version, secret=pack(secret))
            for name, secret in _redacted_secrets(resources.secrets).items()
        ],
    )


def _redacted_secrets(secrets: Mapping[str, Message]) -> dict[str, Message]:
    redacted: dict[str, Message] = {}
    for name, secret in secrets.items():
        copy = secret_pb2.Secret()
        copy.CopyFrom(secret)
        if copy.tls_certificate.HasField("private_key"):
            copy.tls_certificate.private_key.CopyFrom(base_pb2.DataSource(inline_string=REDACTED))
        if copy.tls_certificate.HasField("password"):
            copy.tls_certificate.password.CopyFrom(base_pb2.DataSource(inline_string=REDACTED))
        redacted[name] = copy
    return redacted


def _to_dict(message: Message) -> dict[str, Any]:
    data: dict[str, Any] = json_format.MessageToDict(message, preserving_proto_field_name=True)
    return data


def _sorted(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _sorted(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [_sorted(item) for item in value]
    return value
