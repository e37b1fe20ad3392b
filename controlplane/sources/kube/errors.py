"""What can go wrong talking to the Kubernetes API server."""

from __future__ import annotations


class KubeApiError(Exception):
    """The API server refused a request, or could not be reached (``status`` 0)."""

    def __init__(self, status: int, verb: str, resource: str, message: str) -> None:
        super().__init__(f"{verb} {resource}: {status or 'unreachable'}: {message}")
        self.status = status
        self.verb = verb
        self.resource = resource
        self.message = message


class PermissionDenied(KubeApiError):
    """401 or 403: the control plane's identity lacks a permission; the message names it."""

    def __str__(self) -> str:
        what = "not authenticated" if self.status == 401 else "forbidden"
        return (
            f"{what}: the control plane may not {self.verb} {self.resource} "
            f"(HTTP {self.status}: {self.message})"
        )


class ObjectNotFound(KubeApiError):
    """404: the object, or the whole resource (its CRD is not installed)."""


class ObjectConflict(KubeApiError):
    """409: the object changed since it was read (or already exists)."""


class ResourceExpired(KubeApiError):
    """410: the resourceVersion is older than the server's history; list again."""


class KubeConfigError(Exception):
    """No usable kubeconfig, or not running in a cluster when no kubeconfig was given."""
