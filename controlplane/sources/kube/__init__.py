"""The Kubernetes source: list+watch every kind the translator reads, publish ResourceSets."""

from controlplane.sources.kube.api import ApiResource, KubeApi
from controlplane.sources.kube.errors import KubeApiError, KubeConfigError, PermissionDenied
from controlplane.sources.kube.source import KubernetesSource, SourceSettings
from controlplane.sources.kube.watcher import WatchSettings

__all__ = [
    "ApiResource",
    "KubeApi",
    "KubeApiError",
    "KubeConfigError",
    "KubernetesSource",
    "PermissionDenied",
    "SourceSettings",
    "WatchSettings",
]
