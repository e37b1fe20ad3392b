"""``RequestHead``, connection addresses and a bare status as the ``cel`` package's facts.

The head keeps raw bytes; CEL sees text. Decoding happens only for what an expression reads:
the attributes are properties, and the header list is decoded when ``request.headers`` is
first used. Latin-1 is the decoding HTTP/1.1 allows for field values and never fails.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Protocol

from cel import Activation, ResponseFacts, Value
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


class Connection(Protocol):
    """What CEL needs of a downstream connection: its transport and the client's address and
    port (the PROXY header's when one named them)."""

    @property
    def transport(self) -> Any: ...

    @property
    def peer(self) -> bytes: ...

    @property
    def peer_port(self) -> int: ...


class ConnectionEnd:
    """``source`` (the client) or ``destination`` (agw's listening address) of a downstream
    connection, read from its transport only when an expression asks. Over TLS, ``source``
    carries the client certificate's fields when the listener verified one."""

    __slots__ = ("_conn", "_local")

    def __init__(self, conn: Connection, *, local: bool) -> None:
        self._conn = conn
        self._local = local

    def _listening_address(self) -> tuple[str, int] | None:
        found = self._conn.transport.get_extra_info("sockname")
        return (str(found[0]), int(found[1])) if found else None

    @property
    def address(self) -> str:
        if not self._local:
            address = self._conn.peer.decode("latin-1")
            # A dual-stack listener sees IPv4 clients as IPv4-mapped IPv6 addresses; CEL sees
            # the IPv4 address (which ip() and cidr().containsIP() accept, the mapped form not).
            return address[7:] if address.startswith("::ffff:") and "." in address else address
        found = self._listening_address()
        return found[0] if found else ""

    @property
    def port(self) -> int:
        if not self._local:
            return self._conn.peer_port
        found = self._listening_address()
        return found[1] if found else 0

    def tls_facts(self) -> Mapping[str, Value]:
        ssl_object = None if self._local else self._conn.transport.get_extra_info("ssl_object")
        certificate = ssl_object.getpeercert() if ssl_object is not None else None
        return certificate_facts(certificate) if certificate else {}


def certificate_facts(certificate: Mapping[str, Any]) -> dict[str, Value]:
    """A verified peer certificate (``ssl.SSLSocket.getpeercert()``'s dict) as agentgateway's
    TLS fields: subject alt names as ``type:value`` text save DNS names, the first SPIFFE URI as
    ``identity``, subject and issuer as RFC 4514 text."""
    names = [
        value if kind == "DNS" else f"{kind}:{value}"
        for kind, value in certificate.get("subjectAltName", ())
    ]
    facts: dict[str, Value] = {
        "subjectAltNames": names,
        "subject": _distinguished_name(certificate.get("subject", ())),
        "issuer": _distinguished_name(certificate.get("issuer", ())),
    }
    common = [
        value for rdn in certificate.get("subject", ()) for key, value in rdn if key == "commonName"
    ]
    if common:
        facts["subjectCn"] = common[0]
    spiffe = [
        value
        for kind, value in certificate.get("subjectAltName", ())
        if kind == "URI" and value.startswith("spiffe://")
    ]
    if spiffe:
        facts["identity"] = spiffe[0]
    return facts


_RDN_KEYS = {
    "commonName": "CN",
    "organizationName": "O",
    "organizationalUnitName": "OU",
    "countryName": "C",
    "stateOrProvinceName": "ST",
    "localityName": "L",
}


def _distinguished_name(rdns: Iterable[Iterable[tuple[str, str]]]) -> str:
    # RFC 4514 writes the most specific RDN first; getpeercert() lists them as encoded.
    parts = [f"{_RDN_KEYS.get(key, key)}={value}" for rdn in rdns for key, value in rdn]
    return ",".join(reversed(parts))


def request_facts(head: RequestHead, protocol: str, conn: Connection | None) -> dict[str, object]:
    """``request``, and ``source`` and ``destination`` when the connection is known: the
    variables every expression of a request sees (``Activation.of`` takes the dict)."""
    raw: dict[str, object] = {"request": HeadFacts(head, protocol)}
    if conn is not None:
        raw["source"] = ConnectionEnd(conn, local=False)
        raw["destination"] = ConnectionEnd(conn, local=True)
    return raw


def request_variables(
    head: RequestHead,
    protocol: str,
    conn: Connection | None,
    *,
    response: ResponseFacts | None = None,
) -> Activation:
    """What CEL sees of a request alone (``dataplane.cel.exchange`` adds what an exchange
    gathered): ``request_facts``, and ``response`` when given."""
    raw = request_facts(head, protocol, conn)
    if response is not None:
        raw["response"] = response
    return Activation.of(raw)
