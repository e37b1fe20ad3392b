"""What can go wrong in the echo backend, named by what went wrong."""

from __future__ import annotations


class ListenAddressInvalid(ValueError):
    """A ``--listen`` value is not ``ADDR:PORT``."""


class ControlInvalid(ValueError):
    """A test control (``x-echo-*``) has a value the backend cannot act on."""


class FrameInvalid(ValueError):
    """A WebSocket frame breaks RFC 6455; the connection is closed."""
