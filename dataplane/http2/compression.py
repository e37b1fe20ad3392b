"""HPACK (RFC 7541): header block decoding and encoding, tuned for a proxy's hot path.

Decoding: fully indexed fields, the common case once a client has warmed its table, cost one
table lookup each; Huffman-coded literals are decoded with the ``hpack`` package's decoder and
remembered, because the same few literals recur on every new connection. Literal names and
values are checked once, when they arrive: an indexed field was checked when it was inserted.

Encoding: literals are never Huffman-coded (allowed, and cheaper for us than a few bytes on the
wire). The encoder inserts fields into the dynamic table only until it is full and never evicts,
so after warm-up every field's encoding is fixed and looked up in one dict; fields that vary
per response (dates, lengths, ids) are never indexed and their encodings are shared by every
connection.

The static table and Huffman code come from the ``hpack`` package (installed with ``h2``).
"""

from __future__ import annotations

import re

from hpack.exceptions import HPACKDecodingError
from hpack.huffman_table import decode_huffman
from hpack.table import HeaderTable

from dataplane.http2.errors import HeaderBlockInvalid, HeaderFieldInvalid

Field = tuple[bytes, bytes]

STATIC_TABLE: tuple[Field, ...] = ((b"", b""), *HeaderTable.STATIC_TABLE)
_STATIC_LENGTH = len(STATIC_TABLE) - 1
_STATIC_SIZES = tuple(len(name) + len(value) + 32 for name, value in STATIC_TABLE)
DEFAULT_TABLE_SIZE = 4096
# Decoded Huffman strings and unindexed literal encodings kept before the caches start over.
_CACHE_LIMIT = 4096
# Ready encodings one encoder keeps beyond the static table and its dynamic entries.
_KNOWN_LIMIT = 256
# An integer continuation longer than this many bytes is an attack, not a header.
_MAX_INT_SHIFT = 28

_INVALID_NAME = re.compile(rb"[^a-z0-9!#$%&'*+\-.^_`|~]")
_INVALID_VALUE = re.compile(rb"[\x00\r\n]")
_PSEUDO_NAMES = frozenset(
    {b":method", b":scheme", b":path", b":authority", b":status", b":protocol"}
)

_huffman_cache: dict[bytes, bytes] = {}


def field_size(name: bytes, value: bytes) -> int:
    return len(name) + len(value) + 32


def _read_int(data: bytes, pos: int, value: int) -> tuple[int, int]:
    """The continuation bytes of an integer whose prefix was all ones (``value``)."""
    shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value += (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift > _MAX_INT_SHIFT:
            raise HeaderBlockInvalid("an integer in the header block is too long")


def _huffman(raw: bytes) -> bytes:
    decoded = _huffman_cache.get(raw)
    if decoded is None:
        try:
            decoded = bytes(decode_huffman(raw))
        except HPACKDecodingError as exc:
            raise HeaderBlockInvalid(f"bad Huffman string: {exc}") from None
        if len(_huffman_cache) >= _CACHE_LIMIT:
            _huffman_cache.clear()
        _huffman_cache[raw] = decoded
    return decoded


def _check_field(name: bytes, value: bytes) -> None:
    if name[:1] == b":":
        if name not in _PSEUDO_NAMES:
            raise HeaderFieldInvalid(f"unknown pseudo-header {name!r}")
    elif not name or _INVALID_NAME.search(name):
        raise HeaderFieldInvalid(f"invalid header name {name!r}")
    if _INVALID_VALUE.search(value):
        raise HeaderFieldInvalid(f"invalid value for header {name!r}")


class HeaderDecoder:
    """Decodes the header blocks of one connection's peer."""

    __slots__ = ("entries", "limit", "max_list_size", "max_size", "oversized", "size")

    def __init__(self, max_list_size: int, limit: int = DEFAULT_TABLE_SIZE) -> None:
        # Newest entry last: index 62 is entries[-1].
        self.entries: list[Field] = []
        self.size = 0
        # The size we allow (our SETTINGS_HEADER_TABLE_SIZE) and the one the peer chose.
        self.limit = limit
        self.max_size = limit
        self.max_list_size = max_list_size
        self.oversized = False

    def decode(self, data: bytes) -> list[Field]:
        """The fields of one complete block. Past ``max_list_size`` the block is still decoded
        (the table must stay in step) but no field is returned and ``oversized`` is set."""
        headers: list[Field] = []
        append = headers.append
        static = STATIC_TABLE
        static_sizes = _STATIC_SIZES
        entries = self.entries
        pos = 0
        end = len(data)
        total = 0
        try:
            while pos < end:
                byte = data[pos]
                if byte & 0x80:
                    index = byte & 0x7F
                    pos += 1
                    if index == 0x7F:
                        index, pos = _read_int(data, pos, index)
                    if index <= _STATIC_LENGTH:
                        if not index:
                            raise HeaderBlockInvalid("index 0 in a header block")
                        append(static[index])
                        total += static_sizes[index]
                        continue
                    field = entries[_STATIC_LENGTH - index]
                elif byte & 0x40:
                    field, pos = self._literal(data, pos, 0x3F)
                    self._insert(field)
                elif byte & 0x20:
                    pos = self._size_update(data, pos, bool(headers))
                    continue
                else:
                    field, pos = self._literal(data, pos, 0x0F)
                append(field)
                total += len(field[0]) + len(field[1]) + 32
        except IndexError:
            raise HeaderBlockInvalid("a header block ends early or names no entry") from None
        # Fields are shared references to table entries or slices of ``data``, so a block
        # that repeats a large entry costs little memory before this check.
        self.oversized = total > self.max_list_size
        return [] if self.oversized else headers

    def _entry(self, index: int) -> Field:
        if index <= _STATIC_LENGTH:
            return STATIC_TABLE[index]
        return self.entries[_STATIC_LENGTH - index]

    def _literal(self, data: bytes, pos: int, mask: int) -> tuple[Field, int]:
        index = data[pos] & mask
        pos += 1
        if index == mask:
            index, pos = _read_int(data, pos, index)
        if index:
            name = self._entry(index)[0]
        else:
            name, pos = self._string(data, pos)
        value, pos = self._string(data, pos)
        _check_field(name, value)
        return (name, value), pos

    @staticmethod
    def _string(data: bytes, pos: int) -> tuple[bytes, int]:
        byte = data[pos]
        length = byte & 0x7F
        pos += 1
        if length == 0x7F:
            length, pos = _read_int(data, pos, length)
        stop = pos + length
        if stop > len(data):
            raise HeaderBlockInvalid("a string runs past the end of the header block")
        raw = data[pos:stop]
        return (_huffman(raw) if byte & 0x80 else raw), stop

    def _size_update(self, data: bytes, pos: int, after_fields: bool) -> int:
        if after_fields:
            raise HeaderBlockInvalid("a table size update after the first field")
        size = data[pos] & 0x1F
        pos += 1
        if size == 0x1F:
            size, pos = _read_int(data, pos, size)
        if size > self.limit:
            raise HeaderBlockInvalid(f"table size {size} above the allowed {self.limit}")
        self.max_size = size
        self._evict(0)
        return pos

    def _insert(self, field: Field) -> None:
        size = len(field[0]) + len(field[1]) + 32
        if size > self.max_size:
            self.entries.clear()
            self.size = 0
            return
        self._evict(size)
        self.entries.append(field)
        self.size += size

    def _evict(self, room: int) -> None:
        entries = self.entries
        while entries and self.size + room > self.max_size:
            name, value = entries.pop(0)
            self.size -= len(name) + len(value) + 32


def encode_int(flags: int, prefix_bits: int, value: int) -> bytes:
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes((flags | value,))
    out = bytearray((flags | limit,))
    value -= limit
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _string_literal(raw: bytes) -> bytes:
    return encode_int(0, 7, len(raw)) + raw


_STATIC_EXACT: dict[Field, bytes] = {}
_STATIC_NAMES: dict[bytes, int] = {}
for _index, _field in enumerate(STATIC_TABLE[1:], start=1):
    _STATIC_EXACT.setdefault(_field, encode_int(0x80, 7, _index))
    _STATIC_NAMES.setdefault(_field[0], _index)

# Values that change from message to message: indexing them would only churn the table.
_NEVER_INDEXED_NAMES = frozenset(
    {
        b":path", b"content-length", b"date", b"etag", b"expires", b"last-modified", b"age",
        b"location", b"x-request-id", b"content-range", b"grpc-message", b"traceparent",
    }
)  # fmt: skip
# Credentials: sent with the never-indexed representation so intermediaries do not index them.
_SENSITIVE_NAMES = frozenset({b"authorization", b"proxy-authorization", b"cookie", b"set-cookie"})
_literal_cache: dict[Field, bytes] = {}


def _unindexed(field: Field) -> bytes:
    """A literal without indexing; depends on no table state, so it is shared and cached."""
    encoded = _literal_cache.get(field)
    if encoded is not None:
        return encoded
    name, value = field
    sensitive = name in _SENSITIVE_NAMES
    flags = 0x10 if sensitive else 0x00
    name_index = _STATIC_NAMES.get(name)
    if name_index is not None:
        encoded = encode_int(flags, 4, name_index) + _string_literal(value)
    else:
        encoded = bytes((flags,)) + _string_literal(name) + _string_literal(value)
    if not sensitive:
        if len(_literal_cache) >= _CACHE_LIMIT:
            _literal_cache.clear()
        _literal_cache[field] = encoded
    return encoded


class HeaderEncoder:
    """Encodes the header blocks we send on one connection."""

    __slots__ = ("entries", "full", "known", "max_size", "pending_updates", "size")

    def __init__(self) -> None:
        self.entries: list[Field] = []
        self.size = 0
        self.max_size = DEFAULT_TABLE_SIZE
        self.full = False
        # Every field with a ready encoding: static exact matches and our dynamic entries.
        self.known: dict[Field, bytes] = dict(_STATIC_EXACT)
        self.pending_updates: list[int] = []

    def encode(self, headers: list[Field]) -> bytes:
        get = self.known.get
        parts = [get(field) for field in headers]
        if None in parts:
            parts = self._encode_with_literals(headers)
        if self.pending_updates:
            parts[:0] = [encode_int(0x20, 5, size) for size in self.pending_updates]
            self.pending_updates = []
        return b"".join(parts)  # type: ignore[arg-type]

    def _encode_with_literals(self, headers: list[Field]) -> list[bytes | None]:
        parts: list[bytes | None] = []
        for field in headers:
            # Looked up afresh each time: an insertion renumbers the dynamic entries.
            encoded = self.known.get(field)
            parts.append(encoded if encoded is not None else self._literal(field))
        return parts

    def _literal(self, field: Field) -> bytes:
        name, value = field
        if name in _SENSITIVE_NAMES:
            return _unindexed(field)
        if self.full or name in _NEVER_INDEXED_NAMES:
            encoded = _unindexed(field)
            known = self.known
            if len(known) < _KNOWN_LIMIT:
                known[field] = encoded
            return encoded
        size = len(name) + len(value) + 32
        if self.size + size > self.max_size:
            self.full = True
            return self._literal(field)
        name_index = _STATIC_NAMES.get(name)
        if name_index is not None:
            encoded = encode_int(0x40, 6, name_index) + _string_literal(value)
        else:
            encoded = b"\x40" + _string_literal(name) + _string_literal(value)
        self.entries.append(field)
        self.size += size
        self._reindex()
        return encoded

    def _reindex(self) -> None:
        known = dict(_STATIC_EXACT)
        for offset, field in enumerate(reversed(self.entries)):
            known.setdefault(field, encode_int(0x80, 7, _STATIC_LENGTH + 1 + offset))
        self.known = known

    def resize(self, peer_size: int) -> None:
        """The peer's SETTINGS_HEADER_TABLE_SIZE. We use at most the default; a smaller size
        empties our table (signalled as updates to 0, then to the new size)."""
        size = min(peer_size, DEFAULT_TABLE_SIZE)
        if size == self.max_size:
            return
        self.pending_updates = [0, size] if self.entries else [size]
        self.max_size = size
        self.entries = []
        self.size = 0
        self.full = False
        self.known = dict(_STATIC_EXACT)
