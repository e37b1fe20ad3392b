"""The request head as routing sees it, independent of the HTTP version that carried it."""

from __future__ import annotations

from urllib.parse import unquote_to_bytes


class RequestHead:
    """One request's head. Header names are lower-case bytes, values raw bytes, in wire order.

    ``host`` is lower-case with the port already stripped when the listener asks for that;
    ``path`` excludes the query, ``query`` excludes the ``?``.
    """

    __slots__ = ("_query_params", "headers", "host", "method", "path", "query", "scheme")

    def __init__(
        self,
        method: bytes,
        path: bytes,
        query: bytes | None,
        host: bytes,
        scheme: bytes,
        headers: list[tuple[bytes, bytes]],
    ) -> None:
        self.method = method
        self.path = path
        self.query = query
        self.host = host
        self.scheme = scheme
        self.headers = headers
        self._query_params: dict[bytes, bytes] | None = None

    def header(self, name: bytes) -> bytes | None:
        """All values of ``name`` joined with commas, as Envoy's header matchers see them."""
        if name[0] == 58:  # b":"
            return self._pseudo_header(name)
        found = [value for key, value in self.headers if key == name]
        if not found:
            return None
        return found[0] if len(found) == 1 else b",".join(found)

    def _pseudo_header(self, name: bytes) -> bytes | None:
        if name == b":method":
            return self.method
        if name == b":authority":
            return self.host
        if name == b":scheme":
            return self.scheme
        if name == b":path":
            return self.path if self.query is None else self.path + b"?" + self.query
        return None

    def query_param(self, name: bytes) -> bytes | None:
        """The first value of a query parameter, percent-decoded (Envoy keeps only the first)."""
        params = self._query_params
        if params is None:
            params = self._query_params = parse_query(self.query)
        return params.get(name)


def parse_query(query: bytes | None) -> dict[bytes, bytes]:
    params: dict[bytes, bytes] = {}
    if not query:
        return params
    for pair in query.split(b"&"):
        if not pair:
            continue
        key, _, value = pair.partition(b"=")
        params.setdefault(unquote_to_bytes(key), unquote_to_bytes(value))
    return params
