"""What can go wrong in the data plane, named by what went wrong."""

from __future__ import annotations


class ConfigRejected(Exception):
    """A set of xDS resources the proxy cannot apply; the message is the NACK's error detail."""


class UnsupportedField(ConfigRejected):
    """A field is set that the agw proxy does not implement; never silently ignored."""

    def __init__(self, field_path: str, where: str = "") -> None:
        self.field_path = field_path
        self.where = where
        suffix = f" ({where})" if where else ""
        super().__init__(f"{field_path} is not supported by the agw proxy{suffix}")


class UnsupportedValue(ConfigRejected):
    """A field holds a value (an enum member, a retry condition, a type URL) not implemented."""

    def __init__(self, field_path: str, value: object, where: str = "") -> None:
        self.field_path = field_path
        self.value = value
        self.where = where
        suffix = f" ({where})" if where else ""
        super().__init__(f"{field_path}={value!r} is not supported by the agw proxy{suffix}")


class InvalidConfig(ConfigRejected):
    """A resource is malformed (bad regex, missing address, zero total weight...)."""


class UpstreamConnectError(Exception):
    """Connecting to an upstream endpoint failed or timed out."""


class ListenerBindError(Exception):
    """A listener's address could not be bound."""


class GrpcCallError(Exception):
    """A gRPC service gave no usable answer (unreachable, reset, malformed reply)."""


class AuthServiceError(Exception):
    """An external authorization service gave no usable answer (unreachable, reset, timeout,
    malformed reply): the request is refused with the filter's status_on_error."""


class SpanExportError(Exception):
    """A trace collector did not take a batch of spans (no endpoint, unreachable, an error
    answer); the batch is dropped and requests never notice."""
