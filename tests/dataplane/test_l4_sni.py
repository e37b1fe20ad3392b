"""The sans-IO ClientHello reader behind SNI chain selection (dataplane/sni.py).

Covers real ClientHellos written by OpenSSL (SNI and ALPN, none, TLS 1.2 and 1.3 clients),
fed whole, one byte at a time, with trailing data, split over two TLS records, truncated at
every length, and garbage (plain HTTP, a non-handshake record, corrupted lengths, arbitrary
bytes under Hypothesis). Choosing a chain by the name read here is covered in test_l4_tls.py.
"""

from __future__ import annotations

import contextlib
import ssl

from hypothesis import given
from hypothesis import strategies as st

from dataplane.sni import ClientHello, ClientHelloReader, Verdict, inspect_client_hello


def client_hello(
    server_name: str | None = None,
    alpn: list[str] | None = None,
    maximum: ssl.TLSVersion = ssl.TLSVersion.MAXIMUM_SUPPORTED,
) -> bytes:
    """The first flight of a real client: OpenSSL writes its ClientHello into a memory BIO."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.maximum_version = maximum
    if alpn:
        context.set_alpn_protocols(alpn)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    client = context.wrap_bio(incoming, outgoing, server_hostname=server_name)
    with contextlib.suppress(ssl.SSLWantReadError):
        client.do_handshake()
    return outgoing.read()


HELLO = client_hello("Vault.Example.com", ["h2", "http/1.1"])


def test_whole_client_hello_gives_sni_and_alpn() -> None:
    assert inspect_client_hello(HELLO) == ClientHello("vault.example.com", ("h2", "http/1.1"))


def test_tls12_client_and_no_extensions_of_interest() -> None:
    hello = client_hello(None, None, ssl.TLSVersion.TLSv1_2)
    assert inspect_client_hello(hello) == ClientHello(None, ())


def test_byte_by_byte() -> None:
    reader = ClientHelloReader()
    results = [reader.feed(HELLO[i : i + 1]) for i in range(len(HELLO))]
    assert all(result is Verdict.INCOMPLETE for result in results[:-1])
    assert results[-1] == ClientHello("vault.example.com", ("h2", "http/1.1"))
    # Further bytes (the client's next flight) change nothing.
    assert reader.feed(b"\x17\x03\x03") == results[-1]


def test_trailing_data_is_ignored() -> None:
    assert inspect_client_hello(HELLO + b"\x16\x03\x01garbage") == inspect_client_hello(HELLO)


def test_every_truncation_is_incomplete() -> None:
    for size in range(len(HELLO)):
        assert inspect_client_hello(HELLO[:size]) is Verdict.INCOMPLETE, size


def test_handshake_split_over_two_records() -> None:
    body = HELLO[5:]
    cut = len(body) // 3
    records = b"".join(
        b"\x16\x03\x01" + len(part).to_bytes(2, "big") + part for part in (body[:cut], body[cut:])
    )
    assert inspect_client_hello(records) == inspect_client_hello(HELLO)
    assert inspect_client_hello(records[:-1]) is Verdict.INCOMPLETE


def test_garbage_is_not_tls() -> None:
    assert inspect_client_hello(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n") is Verdict.NOT_TLS
    # An alert record, and a handshake record holding a ServerHello.
    assert inspect_client_hello(b"\x15\x03\x03\x00\x02\x02\x28") is Verdict.NOT_TLS
    assert inspect_client_hello(b"\x16\x03\x03\x00\x04\x02\x00\x00\x00") is Verdict.NOT_TLS
    # A zero-length record and one longer than TLS allows.
    assert inspect_client_hello(b"\x16\x03\x01\x00\x00") is Verdict.NOT_TLS
    assert inspect_client_hello(b"\x16\x03\x01\xff\xff") is Verdict.NOT_TLS


def test_corrupted_inner_length_is_not_tls() -> None:
    corrupted = bytearray(HELLO)
    # The session id length (after record header 5, handshake header 4, version 2, random 32).
    corrupted[5 + 4 + 2 + 32] = 0xFF
    assert inspect_client_hello(bytes(corrupted)) is Verdict.NOT_TLS


@given(st.binary(max_size=600))
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    assert isinstance(inspect_client_hello(data), ClientHello | Verdict)


@given(st.integers(min_value=0, max_value=len(HELLO) - 1), st.integers(0, 255))
def test_any_single_byte_corruption_never_raises(position: int, value: int) -> None:
    corrupted = bytearray(HELLO)
    corrupted[position] = value
    assert isinstance(inspect_client_hello(bytes(corrupted)), ClientHello | Verdict)
