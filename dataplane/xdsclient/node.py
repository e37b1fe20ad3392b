"""The node identity a proxy presents: its id, and the gateway it serves in both
``metadata["gateway"]`` and ``cluster``, which is how the control plane picks its snapshot."""

from __future__ import annotations

import os
import socket

from envoy.config.core.v3.base_pb2 import Node

GATEWAY_METADATA_KEY = "gateway"
USER_AGENT = "agw-proxy"


def default_node_id(gateway: str) -> str:
    return f"agw-proxy/{gateway}/{socket.gethostname()}/{os.getpid()}"


def build_node(gateway: str, node_id: str | None = None) -> Node:
    node = Node(id=node_id or default_node_id(gateway), cluster=gateway, user_agent_name=USER_AGENT)
    node.metadata.fields[GATEWAY_METADATA_KEY].string_value = gateway
    return node
