"""The variables an expression sees: built lazily from whatever the proxy knows about a request.

The proxy hands an ``Activation`` a ``RequestFacts`` (and optionally response, peers, claims):
plain objects that answer questions cheaply. Nothing is converted until an expression reads it,
and each field is converted at most once per activation, so a policy that only reads
``request.method`` never decodes a header and never touches the body, and
``request.headers["x-user"]`` looks up one header without building the whole map.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, ClassVar, Protocol

from cel.errors import NoSuchVariable
from cel.values import Value

#: Every variable agentgateway defines; an expression naming anything else does not compile.
KNOWN_VARIABLES = frozenset(
    {
        "request",
        "response",
        "source",
        "destination",
        "jwt",
        "apiKey",
        "basicAuth",
        "backend",
        "metadata",
        "extauthz",
        "extproc",
        "llm",
        "mcp",
        "env",
        "proxy",
    }
)


class RequestFacts(Protocol):
    """What the proxy knows about the downstream request; header names are lower-case."""

    @property
    def method(self) -> str: ...

    @property
    def path(self) -> str: ...

    @property
    def query(self) -> str | None: ...

    @property
    def host(self) -> str: ...

    @property
    def scheme(self) -> str: ...

    @property
    def version(self) -> str: ...

    def header(self, name: str) -> str | None:
        """All values of one header joined with commas, or None."""
        ...

    def header_items(self) -> Iterable[tuple[str, str]]: ...

    def body(self) -> bytes | None:
        """The buffered body, or None when it was not buffered (the field is then absent)."""
        ...


class ResponseFacts(Protocol):
    @property
    def code(self) -> int: ...

    def header_items(self) -> Iterable[tuple[str, str]]: ...


class PeerFacts(Protocol):
    """One end of the downstream connection: ``source`` is the client, ``destination`` agw."""

    @property
    def address(self) -> str: ...

    @property
    def port(self) -> int: ...

    def tls_facts(self) -> Mapping[str, Value]:
        """Client-certificate fields (identity, subjectAltNames, issuer, subject...) if any."""
        ...


class _Absent:
    __slots__ = ()


ABSENT = _Absent()
Getter = Callable[[Any], Value]


class View(Mapping[str, Value]):
    """A CEL object over some facts; each field is computed on first access and then kept.

    Subclasses list their fields once, in ``GETTERS``, as functions of the facts object.
    """

    __slots__ = ("_facts", "_fields")
    GETTERS: ClassVar[dict[str, Getter]] = {}

    def __init__(self, facts: object) -> None:
        self._facts = facts
        self._fields: dict[str, Value] = {}

    def __getitem__(self, name: str) -> Value:
        fields = self._fields
        if name in fields:
            return fields[name]
        value = self.GETTERS[name](self._facts)
        if value is ABSENT:
            raise KeyError(name)
        fields[name] = value
        return value

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str) or name not in self.GETTERS:
            return False
        try:
            self[name]
        except KeyError:
            return False
        return True

    def __iter__(self) -> Iterator[str]:
        return (name for name in self.GETTERS if name in self)

    def __len__(self) -> int:
        return sum(1 for _ in self)


def header_map(items: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Repeated headers join with commas, as Envoy's header matchers and agentgateway see them."""
    headers: dict[str, str] = {}
    for name, value in items:
        previous = headers.get(name)
        headers[name] = value if previous is None else f"{previous},{value}"
    return headers


class RequestHeaders(Mapping[str, str]):
    """``request.headers``: single lookups ask the facts; iteration builds the whole map once."""

    __slots__ = ("_all", "_facts")

    def __init__(self, facts: RequestFacts) -> None:
        self._facts = facts
        self._all: dict[str, str] | None = None

    def __getitem__(self, name: str) -> str:
        if type(name) is not str:
            raise KeyError(name)
        value = self._facts.header(name)
        if value is None:
            raise KeyError(name)
        return value

    def __contains__(self, name: object) -> bool:
        return type(name) is str and self._facts.header(name) is not None

    def _everything(self) -> dict[str, str]:
        if self._all is None:
            self._all = header_map(self._facts.header_items())
        return self._all

    def __iter__(self) -> Iterator[str]:
        return iter(self._everything())

    def __len__(self) -> int:
        return len(self._everything())


def _path_and_query(facts: RequestFacts) -> str:
    return facts.path if facts.query is None else f"{facts.path}?{facts.query}"


def _body(facts: RequestFacts) -> Value:
    content = facts.body()
    return ABSENT if content is None else content


class RequestView(View):
    __slots__ = ()
    GETTERS: ClassVar[dict[str, Getter]] = {
        "method": lambda facts: facts.method,
        "path": lambda facts: facts.path,
        "pathAndQuery": _path_and_query,
        "uri": lambda facts: f"{facts.scheme}://{facts.host}{_path_and_query(facts)}",
        "host": lambda facts: facts.host,
        "scheme": lambda facts: facts.scheme,
        "version": lambda facts: facts.version,
        "headers": RequestHeaders,
        "body": _body,
    }


class ResponseView(View):
    __slots__ = ()
    GETTERS: ClassVar[dict[str, Getter]] = {
        "code": lambda facts: facts.code,
        "headers": lambda facts: header_map(facts.header_items()),
    }


def _tls_field(name: str) -> Getter:
    return lambda facts: facts.tls_facts().get(name, ABSENT)


class PeerView(View):
    __slots__ = ()
    GETTERS: ClassVar[dict[str, Getter]] = {
        "address": lambda facts: facts.address,
        "port": lambda facts: facts.port,
        **{
            name: _tls_field(name)
            for name in ("identity", "subjectAltNames", "issuer", "subject", "subjectCn")
        },
    }


class BackendView(View):
    """``backend``: where the request is sent, as agentgateway names it (facts with ``name``,
    ``type`` such as "service", and ``protocol`` such as "http")."""

    __slots__ = ()
    GETTERS: ClassVar[dict[str, Getter]] = {
        "name": lambda facts: facts.name,
        "type": lambda facts: facts.type,
        "protocol": lambda facts: facts.protocol,
    }


def _as_is(value: Value) -> Value:
    return value


class Activation:
    """One evaluation context. Cheap to create: it only keeps references until a variable is read.

    Variables given as ``None`` are absent: reading them is a ``NoSuchVariable`` error and
    ``has(jwt)`` / ``has(jwt.sub)`` are false, as in agentgateway. Claim-like variables
    (``jwt``, ``apiKey``, ``metadata``...) are mappings of plain JSON-like values.
    """

    __slots__ = ("_cache", "_raw", "bindings")

    def __init__(
        self,
        request: RequestFacts | None = None,
        *,
        response: ResponseFacts | None = None,
        source: PeerFacts | None = None,
        destination: PeerFacts | None = None,
        **claims: Mapping[str, Value] | None,
    ) -> None:
        raw: dict[str, object] = {}
        if request is not None:
            raw["request"] = request
        if response is not None:
            raw["response"] = response
        if source is not None:
            raw["source"] = source
        if destination is not None:
            raw["destination"] = destination
        for name, value in claims.items():
            if name not in KNOWN_VARIABLES:
                raise TypeError(f"unknown CEL variable {name!r}")
            if value is not None:
                raw[name] = value
        self._raw = raw
        self._cache: dict[str, Value] = {}
        # Values of macro iteration variables, keyed by the slot the compiler assigned.
        self.bindings: dict[int, Value] = {}

    @classmethod
    def of(cls, raw: dict[str, object]) -> Activation:
        """An activation over ``raw``: variable name to its facts or value, absent variables
        left out. For callers that build many per second; the names are theirs to get right."""
        self = cls.__new__(cls)
        self._raw = raw
        self._cache = {}
        self.bindings = {}
        return self

    def lookup(self, name: str) -> Value:
        cache = self._cache
        if name in cache:
            return cache[name]
        if name not in self._raw:
            raise NoSuchVariable(f"no such variable: {name} (absent for this request)")
        value = cache[name] = _BUILDERS.get(name, _as_is)(self._raw[name])
        return value

    def is_present(self, name: str) -> bool:
        return name in self._raw

    def present_variables(self) -> dict[str, Value]:
        return {name: self.lookup(name) for name in sorted(self._raw)}


_BUILDERS: dict[str, Callable[[Any], Value]] = {
    "request": RequestView,
    "response": ResponseView,
    "source": PeerView,
    "destination": PeerView,
    "backend": BackendView,
}
