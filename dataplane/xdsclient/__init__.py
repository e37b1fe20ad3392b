"""The agw proxy's xDS client: one ADS stream (delta by default, state of the world on
request) that keeps the proxy's resources current.

- ``client.XdsClient``: the protocol core, without IO. Subscriptions (wildcard LDS and CDS;
  EDS, RDS and SDS by the names current listeners and clusters use), ACK and NACK, Envoy's
  warming rules (``warming``), and the store of what was accepted (``store``).
- ``sotw`` and ``delta``: the two wire flavours.
- ``transport.AdsConnection``: the grpc.aio stream, reconnects with jittered backoff
  (``backoff``); every update runs through a ``sink.ConfigSink`` before it is ACKed.
- ``dump``: the accepted resources as an ``envoy.admin.v3.ConfigDump``.

``transport`` is not re-exported here: it imports grpc, which the proxy's workers (they
import this package for resource types) never need; grpc alone is 12 MiB of resident memory.
"""

from dataplane.xdsclient.client import PendingUpdate, Rejection, XdsClient
from dataplane.xdsclient.delta import DeltaWire
from dataplane.xdsclient.node import build_node
from dataplane.xdsclient.sink import ConfigSink, ConfigUpdate
from dataplane.xdsclient.sotw import SotwWire

__all__ = [
    "ConfigSink",
    "ConfigUpdate",
    "DeltaWire",
    "PendingUpdate",
    "Rejection",
    "SotwWire",
    "XdsClient",
    "build_node",
]
