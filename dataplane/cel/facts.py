"""``RequestHead``, connection addresses and a bare status as the ``cel`` package's facts.

The head keeps raw bytes; CEL sees text. Decoding happens only for what an expression reads:
the attributes are properties, and the header list is decoded when ``request.headers`` is
first used. Latin-1 is the decoding HTTP/1.1 allows for field values and never fails.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from cel import Value
from dataplane.request import RequestHead


class HeadFacts:
    """One request as CEL sees it. ``body`` is the buffered body, or None when not buffered."""

    __slots__ = ("_body", "_head", "version")

    def __init__(self, head: RequestHead, version: str = "HTTP/1.1", body: bytes | None = None):
        self._head = head
        self._body = body
        self.version = version

    @property
    def method(self) -> str:
        return self._head.method.decode("latin-1")

    @property
    def path(self) -> str:
        return self._head.path.decode("latin-1")

    @property
    def query(self) -> str | None:
        query = self._head.query
        return None if query is None else query.decode("latin-1")

    @property
    def host(self) -> str:
        return self._head.host.decode("latin-1")

    @property
    def scheme(self) -> str:
        return self._head.scheme.decode("latin-1")

    def header(self, name: str) -> str | None:
        if not name:
            return None
        value = self._head.header(name.encode("latin-1", "replace"))
        return None if value is None else value.decode("latin-1")

    def header_items(self) -> Iterator[tuple[str, str]]:
        for name, value in self._head.headers:
            yield name.decode("latin-1"), value.decode("latin-1")

    def body(self) -> bytes | None:
        return self._body


class PeerAddress:
    """A connection end; ``tls`` holds client-certificate fields when the peer presented one."""

    __slots__ = ("_tls", "address", "port")

    def __init__(self, address: str, port: int, tls: Mapping[str, Value] | None = None):
        self.address = address
        self.port = port
        self._tls: Mapping[str, Value] = tls or {}

    def tls_facts(self) -> Mapping[str, Value]:
        return self._tls


class StatusFacts:
    """A response as CEL sees it once it is over (access logs, metric labels): its status
    code; its headers are not kept."""

    __slots__ = ("code",)

    def __init__(self, code: int) -> None:
        self.code = code

    def header_items(self) -> Iterable[tuple[str, str]]:
        return ()
