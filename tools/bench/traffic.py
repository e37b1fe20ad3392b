"""Client loops that send requests until told to stop and count every outcome: one keeps a
connection alive across requests, one opens a new connection per request. A request that
fails to connect, is reset, or times out counts as a connection error; any answer other
than 200 counts as a non-200, with its status."""

from __future__ import annotations

import http.client
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from tools.bench import manifests

REQUEST_TIMEOUT_SECONDS = 5.0


@dataclass
class Tally:
    requests: int = 0
    ok: int = 0
    non_200: int = 0
    connection_errors: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    backends: Counter[str] = field(default_factory=Counter)

    @property
    def failures(self) -> int:
        return self.non_200 + self.connection_errors

    def count(self, status: int, backend: str | None) -> None:
        self.requests += 1
        if status == 200:
            self.ok += 1
            self.backends[backend or "?"] += 1
        else:
            self.non_200 += 1
            self.statuses[status] += 1

    def count_error(self, error: BaseException) -> None:
        self.requests += 1
        self.connection_errors += 1
        self.errors[type(error).__name__] += 1

    def as_dict(self) -> dict[str, object]:
        return {
            "requests": self.requests,
            "ok": self.ok,
            "non_200": self.non_200,
            "connection_errors": self.connection_errors,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "errors": dict(sorted(self.errors.items())),
            "backends": dict(sorted(self.backends.items())),
        }


def _exchange(connection: http.client.HTTPConnection, host: str) -> tuple[int, str | None]:
    connection.request("GET", "/", headers={"Host": host})
    response = connection.getresponse()
    response.read()
    return response.status, response.getheader("x-echo-backend")


def keepalive_loop(ip: str, host: str, stop: threading.Event, tally: Tally) -> None:
    """Requests on one connection, reopened only after it failed or the server closed it."""
    connection: http.client.HTTPConnection | None = None
    while not stop.is_set():
        if connection is None:
            connection = http.client.HTTPConnection(
                ip, manifests.LISTENER_PORT, timeout=REQUEST_TIMEOUT_SECONDS
            )
        try:
            status, backend = _exchange(connection, host)
        except (OSError, http.client.HTTPException) as error:
            tally.count_error(error)
            connection.close()
            connection = None
            continue
        tally.count(status, backend)
    if connection is not None:
        connection.close()


def fresh_connection_loop(
    ip: str,
    host: Callable[[], str | None],
    stop: threading.Event,
    record: Callable[[str, int, str | None, BaseException | None], None],
) -> None:
    """One new connection per request, to whatever host ``host()`` names at the time."""
    while not stop.is_set():
        target = host()
        if target is None:
            stop.wait(0.005)
            continue
        connection = http.client.HTTPConnection(
            ip, manifests.LISTENER_PORT, timeout=REQUEST_TIMEOUT_SECONDS
        )
        try:
            status, backend = _exchange(connection, target)
        except (OSError, http.client.HTTPException) as error:
            record(target, 0, None, error)
        else:
            record(target, status, backend, None)
        finally:
            connection.close()


def tally_recorder(tally: Tally) -> Callable[[str, int, str | None, BaseException | None], None]:
    def record(_: str, status: int, backend: str | None, error: BaseException | None) -> None:
        if error is not None:
            tally.count_error(error)
        else:
            tally.count(status, backend)

    return record
