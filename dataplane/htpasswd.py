"""htpasswd password hashes: recognise an entry's hash and verify a password against it.

Envoy's basic_auth verifies only ``{SHA}`` (unsalted SHA-1). agentgateway also accepts bcrypt
(``$2a$``, ``$2b$``, ``$2y$``), Apache's MD5 (``$apr1$``) and SHA-crypt (``$5$``, ``$6$``), and
so does the agw proxy: bcrypt through the ``bcrypt`` package, the other two in
``dataplane.crypt``.

The salted hashes are slow on purpose (measured on one core: bcrypt at htpasswd's default cost
5 about 3 ms, at cost 10 about 85 ms; SHA-crypt's default 5,000 rounds 3.5 ms ($5$) and 4.7 ms
($6$) in Python; $apr1$ 0.7 ms), too slow for the event loop, which serves every connection of
the worker: hashed there, each wrong bcrypt cost-10 password stalled the loop 80-120 ms. So:

- Each worker remembers recent answers per (hash, password) as an HMAC under a key drawn when
  the process starts (the passwords are not kept): the last ``MAX_VERIFIED`` successes and,
  apart so that a client trying passwords cannot push successes out, the last
  ``MAX_REFUSED`` failures. ``known`` answers from them (and ``{SHA}`` entries) inline in
  under 10 µs. Failures are kept without an expiry because the answer is a pure function of
  the stored hash and the password: a changed htpasswd entry is another key, never a stale
  answer. A client retrying the same wrong password (a misconfigured one) pays one hash, not
  one per request (measured: 200 tries at bcrypt cost 10 took 0.13 s, not 200 hashes).
- Anything else is hashed in a thread (``CHECKS``, started on first use) while the request
  waits; the loop's lag during a stream of wrong bcrypt cost-10 passwords fell to 0.2-0.6 ms
  on average. bcrypt releases the GIL, so its thread runs beside the loop on another core;
  the pure-Python hashes hold it, but the interpreter's switch interval (5 ms) still hands the
  loop its turn. One thread (``CHECK_THREADS``): with a second one the loop waited two to three
  times as long behind SHA-crypt (mean 5 ms against 10-14 ms, p99 6-27 ms against 41-61 ms,
  in a loop keeping four checks in flight), and bcrypt on a second core would take it from a
  sibling worker (one per core) rather than from an idle one.
- At most ``MAX_CHECKING`` checks are in flight per worker, running or waiting for the thread;
  ``start_check`` refuses more, and the caller answers 503 at once (``policy_auth``). A client
  spraying passwords thus cannot queue CPU work without bound, and cannot stall other clients:
  requests with remembered credentials, and other routes, never wait for the thread. Not 401,
  which tells a client with the right password that it is wrong (browsers prompt again,
  clients give up or lock accounts); 503 is what a proxy answers when overloaded, and clients
  and load balancers treat it as worth a retry. Four lets a few new users log in at once
  (a login is one check, remembered afterwards) while keeping the last one's wait short: at
  bcrypt cost 10, about 340 ms in all.

A check whose client went away finishes in its thread (or is dropped before it starts) and its
answer is discarded; the slot is freed only when the thread is done, so closing connections
does not get around the bound.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum

from dataplane.crypt import apr1_crypt, sha_crypt

# About 150 bytes each (measured with tracemalloc): some 600 KB per worker when full.
MAX_VERIFIED = 4096
# Fewer: a client repeating a wrong password is rarer than users with the right one.
MAX_REFUSED = 1024
CHECK_THREADS = 1
MAX_CHECKING = 4
# bcrypt reads at most 72 bytes of a password; the package refuses longer ones.
BCRYPT_MAX_PASSWORD = 72
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


class RecentAnswers:
    """The most recent answers per (hash, password), successes and failures kept apart, each
    evicting its least recently used first."""

    def __init__(self, successes: int, failures: int) -> None:
        self.successes = successes
        self.failures = failures
        self._key = os.urandom(32)
        self._matched: OrderedDict[bytes, None] = OrderedDict()
        self._refused: OrderedDict[bytes, None] = OrderedDict()

    def _token(self, hashed: PasswordHash, password: bytes) -> bytes:
        # A stored hash holds no newline, so the two parts cannot run into each other.
        return hmac.digest(self._key, hashed.text + b"\n" + password, "sha256")

    def answer(self, hashed: PasswordHash, password: bytes) -> bool | None:
        """Whether ``password`` matched ``hashed`` when last checked; None when not known."""
        token = self._token(hashed, password)
        matched = self._matched
        if token in matched:
            matched.move_to_end(token)
            return True
        refused = self._refused
        if token in refused:
            refused.move_to_end(token)
            return False
        return None

    def record(self, hashed: PasswordHash, password: bytes, matched: bool) -> None:
        seen, limit = (self._matched, self.successes) if matched else (self._refused, self.failures)
        seen[self._token(hashed, password)] = None
        if len(seen) > limit:
            seen.popitem(last=False)

    def counts(self) -> tuple[int, int]:
        """How many successes and failures are remembered."""
        return len(self._matched), len(self._refused)


RECENT = RecentAnswers(MAX_VERIFIED, MAX_REFUSED)


def known(hashed: PasswordHash, password: bytes, recent: RecentAnswers = RECENT) -> bool | None:
    """The answer without a slow hash: ``{SHA}`` entries, and pairs answered recently."""
    if hashed.scheme is Scheme.SHA1:
        return hmac.compare_digest(hashlib.sha1(password).digest(), hashed.digest)
    return recent.answer(hashed, password)


def verify(hashed: PasswordHash, password: bytes, recent: RecentAnswers = RECENT) -> bool:
    """Whether ``password`` is the one ``hashed`` was made from, hashing in this thread when
    the answer is not known."""
    answer = known(hashed, password, recent)
    if answer is None:
        answer = matches(hashed, password)
        recent.record(hashed, password, answer)
    return answer


def matches(hashed: PasswordHash, password: bytes) -> bool:
    """The slow hash itself; touches no shared state, so any thread may run it."""
    return _VERIFIERS[hashed.scheme](hashed.text, password)


class CheckPool:
    """The worker's hashing threads (started on first use) and the checks given to them."""

    def __init__(self, threads: int, limit: int) -> None:
        self.threads = threads
        self.limit = limit
        self._executor: ThreadPoolExecutor | None = None
        # Taken by the loop to count a check in, by a pool thread to count it out.
        self._lock = threading.Lock()
        self._in_flight = 0

    @property
    def in_flight(self) -> int:
        """Checks running or waiting for a thread."""
        return self._in_flight

    def submit(self, hashed: PasswordHash, password: bytes) -> Future[bool] | None:
        """Hash in a thread; None when ``limit`` checks are in flight already."""
        with self._lock:
            if self._in_flight >= self.limit:
                return None
            self._in_flight += 1
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self.threads, thread_name_prefix="htpasswd")
        future = self._executor.submit(matches, hashed, password)
        # Runs when the thread is done, or at once if the check is cancelled before it starts.
        future.add_done_callback(self._count_out)
        return future

    def _count_out(self, _: Future[bool]) -> None:
        with self._lock:
            self._in_flight -= 1


CHECKS = CheckPool(CHECK_THREADS, MAX_CHECKING)


class PendingCheck:
    """A password being hashed in the pool."""

    __slots__ = ("future", "hashed", "password", "recent")

    def __init__(
        self, future: Future[bool], hashed: PasswordHash, password: bytes, recent: RecentAnswers
    ) -> None:
        self.future = future
        self.hashed = hashed
        self.password = password
        self.recent = recent

    async def matched(self) -> bool:
        """The answer, remembered; cancelling the wait cancels a check not yet started."""
        answer = await asyncio.wrap_future(self.future)
        self.recent.record(self.hashed, self.password, answer)
        return answer


def start_check(
    hashed: PasswordHash,
    password: bytes,
    pool: CheckPool = CHECKS,
    recent: RecentAnswers = RECENT,
) -> PendingCheck | None:
    """Hash ``password`` off the loop (after ``known`` had no answer); None when the pool has
    ``MAX_CHECKING`` checks in flight."""
    future = pool.submit(hashed, password)
    return None if future is None else PendingCheck(future, hashed, password, recent)


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
