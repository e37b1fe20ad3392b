"""Stage 2 of the translator: IR to Envoy xDS resources (xds-protos messages)."""

from translator.xds.resources import XdsResources, build_resources

__all__ = ["XdsResources", "build_resources"]
