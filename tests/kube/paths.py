"""Kubernetes URL paths to (group, version, namespace, plural, name, subresource).

kmock 0.8 reads ``/api/v1/namespaces/NAME`` as "namespace NAME, no resource" and fails on
``/api/v1/namespaces`` itself, so Namespace objects could not be served; ``install()`` puts
this parser in its place (kmock calls ``parsing.parse_path`` for every request)."""

from __future__ import annotations

from kmock._internal import parsing

# Subresources of a Namespace, which would otherwise read as a namespaced resource list.
_NAMESPACE_SUBRESOURCES = frozenset({"status", "finalize"})


def parse_path(path: str) -> parsing.ParsedPath:
    parts = [part for part in path.strip("/").split("/") if part]
    if len(parts) >= 3 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    elif len(parts) >= 2 and parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    elif len(parts) == 2 and parts[0] == "apis":
        return parsing.ParsedPath(group=parts[1])
    else:
        return parsing.ParsedPath()
    namespace = None
    namespaced = len(rest) >= 3 and rest[2] not in _NAMESPACE_SUBRESOURCES
    if rest and rest[0] == "namespaces" and namespaced:
        namespace, rest = rest[1], rest[2:]
    return parsing.ParsedPath(
        group=group,
        version=version,
        namespace=namespace,
        plural=rest[0] if rest else None,
        name=rest[1] if len(rest) > 1 else None,
        subresource="/".join(rest[2:]) or None,
    )


def install() -> None:
    parsing.parse_path = parse_path
