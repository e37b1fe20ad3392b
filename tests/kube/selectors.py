"""Label and field selectors, as far as the emulated API server supports them: equality
terms ("a=b,c==d"), fields metadata.name and metadata.namespace; anything else is a 400."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tests.kube import errors


def selected(obj: dict[str, Any], params: Mapping[str, str]) -> bool:
    meta = obj.get("metadata") or {}
    labels = meta.get("labels") or {}
    fields = {"metadata.name": meta.get("name"), "metadata.namespace": meta.get("namespace")}
    for param, values in (("labelSelector", labels), ("fieldSelector", fields)):
        for term in filter(None, str(params.get(param) or "").split(",")):
            key, sep, value = term.partition("==" if "==" in term else "=")
            if not sep or key.endswith("!"):
                raise errors.bad_request(f"unsupported {param} {term!r} (equality only)")
            if values.get(key.strip()) != value.strip():
                return False
    return True
