"""The Envoy bootstrap agw hands out.

Covers: the node naming its gateway the way the ADS server reads it, ADS over GRPC or
DELTA_GRPC with LDS and CDS from ADS, the xDS cluster (HTTP/2, static for an IP, DNS for a
name), admin on loopback, and that the real Envoy accepts the result (``--mode validate``).
Leaves out running Envoy against it: test_xds_envoy.py does that.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from envoy.config.core.v3.base_pb2 import Node
from google.protobuf.json_format import ParseDict

from controlplane.bootstrap import XDS_CLUSTER, envoy_bootstrap
from controlplane.xds.stream import gateway_of
from tests.envoy_harness import envoy_binary


@pytest.mark.parametrize(("delta", "api_type"), [(False, "GRPC"), (True, "DELTA_GRPC")])
def test_ads_flavour_and_sources(delta: bool, api_type: str) -> None:
    bootstrap = envoy_bootstrap("ns/gw", "127.0.0.1:15010", delta=delta)
    dynamic = bootstrap["dynamic_resources"]
    assert dynamic["ads_config"]["api_type"] == api_type
    assert dynamic["ads_config"]["grpc_services"] == [{"envoy_grpc": {"cluster_name": XDS_CLUSTER}}]
    assert dynamic["lds_config"]["ads"] == {} and dynamic["cds_config"]["ads"] == {}
    assert "envoy.restart_features" not in json.dumps(bootstrap)


def test_node_names_the_gateway_for_the_server() -> None:
    bootstrap = envoy_bootstrap("ns/gw", "127.0.0.1:15010", delta=False, node_id="pod-1")
    node = ParseDict(bootstrap["node"], Node())
    assert node.id == "pod-1" and gateway_of(node) == "ns/gw"
    assert envoy_bootstrap("ns/gw", "127.0.0.1:1", delta=False)["node"]["id"] == "envoy/ns/gw"


def test_xds_cluster_is_http2_and_resolves_names_only_when_needed() -> None:
    [by_ip] = envoy_bootstrap("ns/gw", "127.0.0.5:15010", delta=False)["static_resources"][
        "clusters"
    ]
    assert by_ip["type"] == "STATIC"
    options = json.dumps(by_ip["typed_extension_protocol_options"])
    assert "http2_protocol_options" in options
    [by_name] = envoy_bootstrap("ns/gw", "agw.agw-system.svc:15010", delta=False)[
        "static_resources"
    ]["clusters"]
    assert by_name["type"] == "STRICT_DNS"
    with pytest.raises(ValueError, match="HOST:PORT"):
        envoy_bootstrap("ns/gw", "no-port", delta=False)


def test_admin_listens_on_loopback_by_default() -> None:
    admin = envoy_bootstrap("ns/gw", "127.0.0.1:1", delta=False)["admin"]
    assert admin == {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}}}


@pytest.mark.parametrize("delta", [False, True])
def test_envoy_accepts_the_bootstrap(tmp_path: Path, delta: bool) -> None:
    path = tmp_path / "bootstrap.json"
    path.write_text(json.dumps(envoy_bootstrap("ns/gw", "[::1]:15010", delta=delta)))
    result = subprocess.run(
        [envoy_binary(), "--mode", "validate", "-c", str(path), "--disable-hot-restart"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
