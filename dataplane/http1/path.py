"""Path normalization as Envoy's ``normalize_path`` and ``merge_slashes`` do it."""

from __future__ import annotations


def normalize_path(path: bytes, merge_slashes: bool) -> bytes:
    """Remove ``.`` and ``..`` segments (RFC 3986 section 5.2.4); optionally merge ``//``."""
    if merge_slashes and b"//" in path:
        while b"//" in path:
            path = path.replace(b"//", b"/")
    if b"/." not in path:
        return path
    output: list[bytes] = []
    segments = path.split(b"/")
    for index, segment in enumerate(segments[1:], start=1):
        is_last = index == len(segments) - 1
        if segment == b".":
            if is_last:
                output.append(b"")
        elif segment == b"..":
            if output:
                output.pop()
            if is_last:
                output.append(b"")
        else:
            output.append(segment)
    return b"/" + b"/".join(output)
