"""Two crypt(3) password hashes htpasswd files use, implemented from their published
descriptions: Apache's MD5 (Poul-Henning Kamp's MD5-crypt with the ``$apr1$`` magic) and
SHA-crypt (Ulrich Drepper's "Unix crypt using SHA-256 and SHA-512", ``$5$`` and ``$6$``).
``dataplane.htpasswd`` verifies passwords with them; tests check them against ``openssl
passwd``."""

from __future__ import annotations

import hashlib

SHA_CRYPT_DEFAULT_ROUNDS = 5000
_SHA_CRYPT_MIN_ROUNDS = 1000
_SHA_CRYPT_MAX_ROUNDS = 999_999_999
_ALPHABET = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

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
