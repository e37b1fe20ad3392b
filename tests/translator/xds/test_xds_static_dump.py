"""static_bootstrap, resources_to_dicts and config_dump: the offline and debugging views.

Covers how ADS references become static ones (inline routes, STATIC clusters with their
endpoints, static secrets), canonical sorted dicts, redaction of private keys, and the
envoy.admin.v3.ConfigDump shape. Whether Envoy accepts the bootstrap is test_xds_envoy.py.
"""

from __future__ import annotations

import json
from typing import Any

from envoy.admin.v3 import config_dump_pb2
from google.protobuf import json_format

from tests.translator.xds import xds_samples
from translator.xds import XdsResources, build_resources
from translator.xds.dump import REDACTED, config_dump, resources_to_dicts
from translator.xds.static import static_bootstrap


def _tls_resources() -> XdsResources:
    return build_resources(
        xds_samples.tls_gateway(
            named=xds_samples.self_signed("secret/default/a", "a.example.com"),
            fallback=xds_samples.self_signed("secret/default/any", "any.example"),
        )
    )


def _first_manager(listener: dict[str, Any]) -> dict[str, Any]:
    manager: dict[str, Any] = listener["filter_chains"][0]["filters"][0]["typed_config"]
    return manager


def test_bootstrap_inlines_routes_and_turns_eds_clusters_static() -> None:
    resources = build_resources(xds_samples.feature_gateway())
    bootstrap = static_bootstrap(resources, 9901, admin_address="127.0.9.9")
    static = bootstrap["static_resources"]

    assert bootstrap["admin"]["address"]["socket_address"] == {
        "address": "127.0.9.9",
        "port_value": 9901,
    }
    manager = _first_manager(static["listeners"][0])
    assert "rds" not in manager
    assert manager["route_config"]["name"] == xds_samples.HTTP_ROUTES
    clusters = {c["name"]: c for c in static["clusters"]}
    assert clusters[xds_samples.CLUSTER_A]["type"] == "STATIC"
    assert "eds_cluster_config" not in clusters[xds_samples.CLUSTER_A]
    endpoint = clusters[xds_samples.CLUSTER_A]["load_assignment"]["endpoints"][0]["lb_endpoints"][0]
    assert endpoint["endpoint"]["address"]["socket_address"] == {
        "address": "127.0.0.2",
        "port_value": 8000,
    }


def test_bootstrap_leaves_the_ads_resources_untouched() -> None:
    resources = build_resources(xds_samples.feature_gateway())
    before = resources_to_dicts(resources)

    static_bootstrap(resources, 0)

    assert resources_to_dicts(resources) == before


def test_bootstrap_refers_to_static_secrets_by_name() -> None:
    static = static_bootstrap(_tls_resources(), 0)["static_resources"]
    chain = static["listeners"][0]["filter_chains"][0]
    context = chain["transport_socket"]["typed_config"]["common_tls_context"]

    assert context["tls_certificate_sds_secret_configs"] == [{"name": "secret/default/a"}]
    assert sorted(s["name"] for s in static["secrets"]) == [
        "secret/default/a",
        "secret/default/any",
    ]
    assert (
        "BEGIN PRIVATE KEY"
        in static["secrets"][0]["tls_certificate"]["private_key"]["inline_string"]
    )


def test_dicts_are_sorted_and_redacted() -> None:
    dicts = resources_to_dicts(_tls_resources())

    assert list(dicts) == ["clusters", "endpoints", "listeners", "route_configs", "secrets"]
    secret = dicts["secrets"]["secret/default/a"]
    assert secret["tls_certificate"]["private_key"] == {"inline_string": REDACTED}
    assert "BEGIN CERTIFICATE" in secret["tls_certificate"]["certificate_chain"]["inline_string"]
    assert "PRIVATE KEY" not in json.dumps(dicts)

    def keys_sorted(value: Any) -> bool:
        if isinstance(value, dict):
            return list(value) == sorted(value) and all(keys_sorted(v) for v in value.values())
        if isinstance(value, list):
            return all(keys_sorted(item) for item in value)
        return True

    assert keys_sorted(dicts)


def test_config_dump_has_envoys_shape_and_no_private_keys() -> None:
    dump = config_dump(_tls_resources(), "v7")
    sections = {section["@type"].rsplit(".", 1)[1]: section for section in dump["configs"]}

    assert list(sections) == [
        "ClustersConfigDump",
        "EndpointsConfigDump",
        "ListenersConfigDump",
        "RoutesConfigDump",
        "SecretsConfigDump",
    ]
    [listener] = sections["ListenersConfigDump"]["dynamic_listeners"]
    assert listener["name"] == "default/gw/https"
    assert listener["active_state"]["version_info"] == "v7"
    assert listener["active_state"]["listener"]["@type"].endswith(
        "envoy.config.listener.v3.Listener"
    )
    routes = sections["RoutesConfigDump"]["dynamic_route_configs"]
    assert [r["route_config"]["name"] for r in routes] == [
        "default/gw/https/a",
        "default/gw/https/any",
    ]
    secrets = sections["SecretsConfigDump"]["dynamic_active_secrets"]
    assert [s["secret"]["tls_certificate"]["private_key"]["inline_string"] for s in secrets] == [
        REDACTED
    ] * 2
    assert "PRIVATE KEY" not in json.dumps(dump)


def test_config_dump_parses_back_as_an_envoy_config_dump() -> None:
    parsed = json_format.ParseDict(config_dump(_tls_resources(), "1"), config_dump_pb2.ConfigDump())

    assert len(parsed.configs) == 5
