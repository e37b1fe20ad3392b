"""The activation over the proxy's request, the proxy adapter, and the translator's check.

Covers: variables built only when read (headers, body, other variables), caching per
activation, header joining and lower-case names, absent variables, the ``HeadFacts`` and
``PeerAddress`` adapters over a real ``RequestHead``, and ``translator.cel`` status messages.
Leaves out operator and function semantics (test_compile.py).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from cel import Activation, NoSuchKey, NoSuchVariable, compile_expression
from cel.activation import header_map
from dataplane.cel import HeadFacts, PeerAddress
from dataplane.cel.facts import certificate_facts
from dataplane.request import RequestHead
from translator.cel import check_expression, check_expression_for


class CountingRequest:
    """A RequestFacts that records which of its expensive parts were used."""

    def __init__(self, body: bytes | None = None) -> None:
        self.method = "GET"
        self.path = "/items"
        self.query: str | None = "a=1"
        self.host = "example.com"
        self.scheme = "https"
        self.version = "HTTP/2"
        self.header_reads = 0
        self.body_reads = 0
        self._body = body

    def header(self, name: str) -> str | None:
        self.header_reads += 1
        return header_map(self.header_items()).get(name)

    def header_items(self) -> Iterator[tuple[str, str]]:
        self.header_reads += 1
        yield from [("x-user", "alice"), ("accept", "a"), ("accept", "b")]

    def body(self) -> bytes | None:
        self.body_reads += 1
        return self._body


def run(expression: str, activation: Activation) -> Any:
    return compile_expression(expression).evaluate(activation)


def test_unread_parts_cost_nothing() -> None:
    facts = CountingRequest(body=b"{}")
    activation = Activation(facts)
    assert run('request.method == "GET"', activation) is True
    assert (facts.header_reads, facts.body_reads) == (0, 0)


def test_header_lookups_do_not_build_the_map() -> None:
    facts = CountingRequest()
    activation = Activation(facts)
    assert run('request.headers["x-user"]', activation) == "alice"
    assert run('request.headers["accept"]', activation) == "a,b"
    assert run('"x-user" in request.headers', activation) is True
    with pytest.raises(NoSuchKey):
        run('request.headers["absent"]', activation)
    reads = facts.header_reads
    assert run("request.headers.size()", activation) == 2
    assert run("request.headers.size()", activation) == 2
    assert facts.header_reads == reads + 1


def test_request_fields() -> None:
    activation = Activation(CountingRequest(body=b'{"n": 2}'))
    assert run("request.pathAndQuery", activation) == "/items?a=1"
    assert run("request.uri", activation) == "https://example.com/items?a=1"
    assert run("request.version", activation) == "HTTP/2"
    assert run("json(request.body).n", activation) == 2


def test_unbuffered_body_is_absent() -> None:
    activation = Activation(CountingRequest(body=None))
    assert run("has(request.body)", activation) is False
    with pytest.raises(NoSuchKey):
        run("request.body", activation)


def test_absent_variables() -> None:
    activation = Activation(CountingRequest())
    with pytest.raises(NoSuchVariable):
        run("response.code", activation)
    assert run("!has(response) || response.code > 299", activation) is True
    assert run('has(jwt.sub) ? jwt.sub : "anonymous"', activation) == "anonymous"


def test_claims_and_identity_variables() -> None:
    activation = Activation(
        CountingRequest(),
        jwt={"sub": "alice", "groups": ["admin"], "nested": {"key": "value"}},
        apiKey={"key": "k1"},
    )
    assert run('jwt.sub + "-" + request.path', activation) == "alice-/items"
    assert run('"admin" in jwt.groups && jwt.nested.key == "value"', activation) is True
    assert run("apiKey.key", activation) == "k1"


def test_unknown_variable_name_is_refused() -> None:
    with pytest.raises(TypeError, match="unknown CEL variable"):
        Activation(jwtt={"sub": "x"})


class Response:
    code = 503

    def header_items(self) -> Iterator[tuple[str, str]]:
        yield ("content-type", "text/plain")


def test_response_and_peers() -> None:
    tls: Mapping[str, Any] = {"subjectCn": "client", "subjectAltNames": ["spiffe://a/b"]}
    activation = Activation(
        CountingRequest(),
        response=Response(),
        source=PeerAddress("127.0.20.5", 40000, tls),
        destination=PeerAddress("127.0.20.1", 8080),
    )
    assert run("response.code >= 500", activation) is True
    assert run('response.headers["content-type"]', activation) == "text/plain"
    assert run("source.address + ':' + string(source.port)", activation) == "127.0.20.5:40000"
    assert run("source.subjectCn", activation) == "client"
    assert run("has(destination.subjectCn)", activation) is False


def test_head_facts_over_a_request_head() -> None:
    head = RequestHead(
        b"POST",
        b"/v1/chat",
        b"stream=true",
        b"api.example.com",
        b"http",
        [(b"x-user", b"bob"), (b"x-tag", b"1"), (b"x-tag", b"2")],
    )
    activation = Activation(HeadFacts(head, "HTTP/1.1", body=b"hi"))
    assert run("request.method", activation) == "POST"
    assert run("request.pathAndQuery", activation) == "/v1/chat?stream=true"
    assert run("request.host", activation) == "api.example.com"
    assert run('request.headers["x-tag"]', activation) == "1,2"
    assert run("string(request.body)", activation) == "hi"


def test_translator_check_messages() -> None:
    assert check_expression('request.headers["x"]', "spec.traffic.headers[0].value") is None
    message = check_expression("request.headers[", "spec.x")
    assert message is not None
    assert message.startswith("spec.x: invalid CEL expression 'request.headers[': syntax error")
    unknown = check_expression_for(
        "response.code > 200", "spec.authorization.rules[0]", "authorization"
    )
    assert unknown is not None
    assert "unknown variable 'response'" in unknown
    assert check_expression_for("response.code > 200", "spec.accessLog.filter", "accessLog") is None


def test_a_verified_client_certificate_as_tls_fields() -> None:
    # The shape ssl.SSLSocket.getpeercert() gives for a verified peer.
    certificate = {
        "subject": ((("organizationName", "Acme"),), (("commonName", "client.example.com"),)),
        "issuer": ((("commonName", "Acme CA"),),),
        "subjectAltName": (("DNS", "client.example.com"), ("URI", "spiffe://acme/ns/a/sa/b")),
    }
    assert certificate_facts(certificate) == {
        "subjectAltNames": ["client.example.com", "URI:spiffe://acme/ns/a/sa/b"],
        "subject": "CN=client.example.com,O=Acme",
        "issuer": "CN=Acme CA",
        "subjectCn": "client.example.com",
        "identity": "spiffe://acme/ns/a/sa/b",
    }
