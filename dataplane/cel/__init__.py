"""The proxy's side of CEL: adapters from its request objects to the facts ``cel`` evaluates."""

from dataplane.cel.facts import HeadFacts, PeerAddress

__all__ = ["HeadFacts", "PeerAddress"]
