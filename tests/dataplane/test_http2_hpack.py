"""HPACK, agw's encoder and decoder, checked against the ``hpack`` package both ways.

Covers Huffman strings, the dynamic table across blocks, table size updates (and a peer that
shrinks our table), malformed blocks and forbidden fields, an oversized header list, and
Hypothesis round trips of random header lists through both implementations. Framing is in
test_http2_codec.py.
"""

from __future__ import annotations

import hpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dataplane.http2.compression import HeaderDecoder, HeaderEncoder
from dataplane.http2.errors import HeaderBlockInvalid, HeaderFieldInvalid


def test_decoder_reads_the_hpack_package_with_huffman_and_the_dynamic_table() -> None:
    encoder = hpack.Encoder()
    decoder = HeaderDecoder(max_list_size=64 * 1024)
    blocks = [
        [(b":method", b"GET"), (b"user-agent", b"agw-test/1.0"), (b"x-long", b"v" * 300)],
        [(b":method", b"GET"), (b"user-agent", b"agw-test/1.0"), (b"x-long", b"v" * 300)],
        [(b"authorization", b"secret"), (b"x-new", b"\xff\x00ok"[2:])],
    ]
    for headers in blocks:
        assert decoder.decode(encoder.encode(headers, huffman=True)) == headers
    encoder.header_table_size = 100
    small = [(b"x-after-resize", b"1")]
    assert decoder.decode(encoder.encode(small)) == small
    assert decoder.max_size == 100


def test_decoder_rejects_bad_blocks_and_fields() -> None:
    decoder = HeaderDecoder(max_list_size=1024)
    with pytest.raises(HeaderBlockInvalid):
        decoder.decode(b"\xff\xff\xff\xff\xff\xff\x7f")  # integer too long
    with pytest.raises(HeaderBlockInvalid):
        decoder.decode(b"\xbf")  # no dynamic entry 63
    with pytest.raises(HeaderBlockInvalid):
        decoder.decode(b"\x82\x3f\xe1\x1f")  # size update after a field
    with pytest.raises(HeaderFieldInvalid):
        decoder.decode(b"\x00\x01a\x03b\r\n")
    big = hpack.Encoder().encode([(b"x-big", b"v" * 2000)])
    assert decoder.decode(big) == [] and decoder.oversized


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.lists(
            st.tuples(
                st.sampled_from(
                    [b"content-type", b"x-a", b"date", b"server", b"set-cookie", b"x-custom-header"]
                ),
                st.binary(max_size=40).map(
                    lambda v: v.replace(b"\r", b"").replace(b"\n", b"").replace(b"\x00", b"")
                ),
            ),
            max_size=8,
        ),
        min_size=1,
        max_size=12,
    ),
    st.sampled_from([4096, 256, 0]),
)
def test_encoder_round_trips_through_the_hpack_package(
    blocks: list[list[tuple[bytes, bytes]]], peer_table: int
) -> None:
    encoder = HeaderEncoder()
    decoder = hpack.Decoder()
    ours = HeaderDecoder(max_list_size=1 << 20)
    for index, headers in enumerate(blocks):
        if index == 1:
            encoder.resize(peer_table)
        block = encoder.encode(headers)
        assert decoder.decode(block, raw=True) == headers
        assert ours.decode(block) == headers
