"""What can go wrong between the agw proxy and its control plane."""

from __future__ import annotations

from dataplane.errors import ConfigRejected


class ResourceUndecodable(ConfigRejected):
    """A response carried bytes that do not parse as the type it names (NACKed)."""


class DuplicateResourceName(ConfigRejected):
    """One response named the same resource twice (NACKed)."""


class InvalidAddress(ValueError):
    """A HOST:PORT option that does not parse."""


class CredentialsUnreadable(Exception):
    """The CA bundle or token file cannot be read (the stream is retried later)."""
