"""What can go wrong in the xDS cache and on an ADS stream."""

from __future__ import annotations


class SnapshotTypeMismatch(ValueError):
    """A resource's message type is not the type its type URL names."""


class InvalidDiscoveryRequest(ValueError):
    """The proxy broke the protocol; the stream ends with gRPC ``INVALID_ARGUMENT``."""


class MissingNodeId(InvalidDiscoveryRequest):
    """The first request on a stream did not say which proxy is asking."""


class MissingTypeUrl(InvalidDiscoveryRequest):
    """An aggregated request did not say which resource type it is about."""
