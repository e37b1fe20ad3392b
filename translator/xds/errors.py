"""IR that stage 2 cannot express: stage 1 should never produce it, so these are bugs there."""

from __future__ import annotations


class UnsupportedListenerProtocol(ValueError):
    """Only HTTP and HTTPS listeners have an Envoy shape so far."""


class PrefixRewriteWithoutPrefix(ValueError):
    """ReplacePrefixMatch needs a literal path prefix to replace (PathPrefix or Exact)."""


class UnsupportedRedirectStatus(ValueError):
    """Envoy redirects only with 301, 302, 303, 307 or 308."""


class DuplicateResourceName(ValueError):
    """Two IR objects of one kind share a name; xDS resources are keyed by name."""
