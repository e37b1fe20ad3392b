"""htpasswd password hashes: recognise an entry's hash and verify a password against it.

Envoy's basic_auth verifies only ``{SHA}`` (unsalted SHA-1). agentgateway also accepts bcrypt
(``$2a$``, ``$2b$``, ``$2y$``), Apache's MD5 (``$apr1$``) and SHA-crypt (``$5$``, ``$6$``), and
so does the agw proxy: bcrypt through the ``bcrypt`` package, the other two implemented here
from their published descriptions (Poul-Henning Kamp's MD5-crypt as Apache uses it, Ulrich
Drepper's "Unix crypt using SHA-256 and SHA-512").

The salted hashes cost time on the event loop (measured on one core: bcrypt at htpasswd's
default cost 5 about 3 ms, at cost 10 about 85 ms; SHA-crypt's default 5,000 rounds 3.5 ms
($5$) and 4.7 ms ($6$) in Python; $apr1$ 0.7 ms). So each worker remembers the last
``MAX_VERIFIED`` successful (hash, password) pairs, as an HMAC under a key drawn when the
process starts (the passwords are not kept); a client that keeps sending the same
credentials pays once, then about 10 µs. Wrong passwords are not remembered: each one costs a
full verification.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

# About 150 bytes each (measured with tracemalloc): some 600 KB per worker when full.
MAX_VERIFIED = 4096
# bcrypt reads at most 72 bytes of a password; the package refuses longer ones.
BCRYPT_MAX_PASSWORD = 72
SHA_CRYPT_DEFAULT_ROUNDS = 5000
_SHA_CRYPT_MIN_ROUNDS = 1000
_SHA_CRYPT_MAX_ROUNDS = 999_999_999
_ALPHABET = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_BCRYPT = re.compile(r"\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}")
_APR1 = re.compile(r"\$apr1\$([./A-Za-z0-9]{1,8})\$[./A-Za-z0-9]{22}")
_SHA_CRYPT = re.compile(
    r"\$([56])\$(?:rounds=([0-9]{1,9})\$)?([./A-Za-z0-9]{1,16})\$([./A-Za-z0-9]+)"
)
_SHA_CRYPT_LENGTHS = {"5": 43, "6": 86}


class Scheme(StrEnum):
    SHA1 = "{SHA}"
    BCRYPT = "bcrypt"
    APR1 = "$apr1$"
    SHA256_CRYPT = "$5$"
    SHA512_CRYPT = "$6$"


@dataclass(frozen=True, slots=True)
class PasswordHash:
    """One user's hash: the text after ``user:``, and for ``{SHA}`` the 20-byte digest."""

    scheme: Scheme
    text: bytes
    digest: bytes = b""


def parse_hash(text: str) -> PasswordHash | None:
    """The hash ``text`` holds; None when it is none of the supported forms."""
    if text.startswith("{SHA}"):
        try:
            digest = base64.b64decode(text[5:], validate=True)
        except binascii.Error:
            return None
        return PasswordHash(Scheme.SHA1, text.encode(), digest) if len(digest) == 20 else None
    if _BCRYPT.fullmatch(text):
        return PasswordHash(Scheme.BCRYPT, text.encode())
    if _APR1.fullmatch(text):
        return PasswordHash(Scheme.APR1, text.encode())
    found = _SHA_CRYPT.fullmatch(text)
    if found and len(found.group(4)) == _SHA_CRYPT_LENGTHS[found.group(1)]:
        scheme = Scheme.SHA256_CRYPT if found.group(1) == "5" else Scheme.SHA512_CRYPT
        return PasswordHash(scheme, text.encode())
    return None


class VerifiedPasswords:
    """The most recent successful verifications, least recently used evicted first."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._key = os.urandom(32)
        self._seen: OrderedDict[bytes, None] = OrderedDict()

    def _token(self, hashed: PasswordHash, password: bytes) -> bytes:
        # A stored hash holds no newline, so the two parts cannot run into each other.
        return hmac.digest(self._key, hashed.text + b"\n" + password, "sha256")

    def holds(self, hashed: PasswordHash, password: bytes) -> bool:
        token = self._token(hashed, password)
        if token not in self._seen:
            return False
        self._seen.move_to_end(token)
        return True

    def add(self, hashed: PasswordHash, password: bytes) -> None:
        self._seen[self._token(hashed, password)] = None
        if len(self._seen) > self.limit:
            self._seen.popitem(last=False)

    def __len__(self) -> int:
        return len(self._seen)


VERIFIED = VerifiedPasswords(MAX_VERIFIED)


def verify(hashed: PasswordHash, password: bytes, cache: VerifiedPasswords = VERIFIED) -> bool:
    """Whether ``password`` is the one ``hashed`` was made from."""
    if hashed.scheme is Scheme.SHA1:
        return hmac.compare_digest(hashlib.sha1(password).digest(), hashed.digest)
    if cache.holds(hashed, password):
        return True
    if not _VERIFIERS[hashed.scheme](hashed.text, password):
        return False
    cache.add(hashed, password)
    return True


def _bcrypt_matches(text: bytes, password: bytes) -> bool:
    # Imported on first use: half a megabyte per worker that most configs never need.
    import bcrypt

    try:
        return bool(bcrypt.checkpw(password[:BCRYPT_MAX_PASSWORD], text))
    except ValueError:  # a salt the library refuses although it has the right shape
        return False


def _apr1_matches(text: bytes, password: bytes) -> bool:
    salt = text.split(b"$")[2]
    return hmac.compare_digest(apr1_crypt(password, salt), text)


def _sha_crypt_matches(text: bytes, password: bytes) -> bool:
    found = _SHA_CRYPT.fullmatch(text.decode())
    assert found is not None  # parse_hash accepted it
    kind, rounds, salt, expected = found.groups()
    computed = sha_crypt(
        password, salt.encode(), int(rounds) if rounds else None, sha512=kind == "6"
    )
    # Only the hash: a stored ``rounds=`` out of range is written clamped when computed.
    return hmac.compare_digest(computed.rpartition(b"$")[2], expected.encode())


_VERIFIERS: dict[Scheme, Callable[[bytes, bytes], bool]] = {
    Scheme.BCRYPT: _bcrypt_matches,
    Scheme.APR1: _apr1_matches,
    Scheme.SHA256_CRYPT: _sha_crypt_matches,
    Scheme.SHA512_CRYPT: _sha_crypt_matches,
}


# In an output group, stands for a zero byte rather than a byte of the digest.
_ZERO = -1


def _encode(groups: list[tuple[int, int, int, int]], digest: bytes) -> bytes:
    """crypt's base-64: each (a, b, c, n) takes bytes a, b, c as a 24-bit number (a high) and
    writes its ``n`` low 6-bit groups, lowest first."""
    padded = digest + b"\0"  # index _ZERO reads this byte
    out = bytearray()
    for a, b, c, count in groups:
        value = (padded[a] << 16) | (padded[b] << 8) | padded[c]
        for _ in range(count):
            out.append(_ALPHABET[value & 0x3F])
            value >>= 6
    return bytes(out)


def _cycled(block: bytes, length: int) -> bytes:
    """``block`` repeated, cut to ``length`` bytes."""
    return (block * (length // len(block) + 1))[:length]


# MD5-crypt's output order.
_MD5_GROUPS = [
    (0, 6, 12, 4),
    (1, 7, 13, 4),
    (2, 8, 14, 4),
    (3, 9, 15, 4),
    (4, 10, 5, 4),
    (_ZERO, _ZERO, 11, 2),
]


def apr1_crypt(password: bytes, salt: bytes, magic: bytes = b"$apr1$") -> bytes:
    """Apache's MD5 hash of ``password``: ``$apr1$<salt>$<22 characters>``."""
    salt = salt[:8]
    alternate = hashlib.md5(password + salt + password).digest()
    context = hashlib.md5(password + magic + salt)
    context.update(_cycled(alternate, len(password)))
    length = len(password)
    while length:
        # The original reads a byte of a zeroed buffer for set bits.
        context.update(b"\0" if length & 1 else password[:1])
        length >>= 1
    digest = context.digest()
    for i in range(1000):
        step = hashlib.md5(password if i & 1 else digest)
        if i % 3:
            step.update(salt)
        if i % 7:
            step.update(password)
        step.update(digest if i & 1 else password)
        digest = step.digest()
    return magic + salt + b"$" + _encode(_MD5_GROUPS, digest)


def _sha_groups(size: int) -> list[tuple[int, int, int, int]]:
    """SHA-crypt's output order: triples of bytes k, k+n, k+2n rotated by k, then the rest."""
    if size == 32:
        step, rotate, tail = 10, (0, 2, 1), [(_ZERO, 31, 30, 3)]
    else:
        step, rotate, tail = 21, (0, 1, 2), [(_ZERO, _ZERO, 63, 2)]
    groups = []
    for k in range(step):
        triple = (k, k + step, k + 2 * step)
        shift = rotate[k % 3]
        a, b, c = triple[shift:] + triple[:shift]
        groups.append((a, b, c, 4))
    return groups + tail


def sha_crypt(password: bytes, salt: bytes, rounds: int | None, *, sha512: bool) -> bytes:
    """The SHA-256 (``$5$``) or SHA-512 (``$6$``) crypt of ``password``; ``rounds`` None is the
    default 5,000, written without a ``rounds=`` field."""
    new = hashlib.sha512 if sha512 else hashlib.sha256
    salt = salt[:16]
    count = SHA_CRYPT_DEFAULT_ROUNDS if rounds is None else rounds
    count = min(max(count, _SHA_CRYPT_MIN_ROUNDS), _SHA_CRYPT_MAX_ROUNDS)
    alternate = new(password + salt + password).digest()
    context = new(password + salt)
    context.update(_cycled(alternate, len(password)))
    length = len(password)
    while length:
        context.update(alternate if length & 1 else password)
        length >>= 1
    digest = context.digest()
    p_bytes = _cycled(new(password * len(password)).digest(), len(password))
    s_bytes = _cycled(new(salt * (16 + digest[0])).digest(), len(salt))
    for i in range(count):
        step = new(p_bytes if i & 1 else digest)
        if i % 3:
            step.update(s_bytes)
        if i % 7:
            step.update(p_bytes)
        step.update(digest if i & 1 else p_bytes)
        digest = step.digest()
    prefix = b"$6$" if sha512 else b"$5$"
    if rounds is not None:
        prefix += b"rounds=%d$" % count
    return prefix + salt + b"$" + _encode(_sha_groups(len(digest)), digest)
