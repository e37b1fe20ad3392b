"""A serving certificate from agw's CA that renews itself while the ADS server runs.

grpcio (1.85, checked by test_xds_auth_renewal) asks a certificate fetcher before every TLS
handshake when the port is given ``grpc.dynamic_ssl_server_credentials``: a configuration it
returns is used for that handshake and the later ones, ``None`` keeps the current one.
Connections already open, and the ADS streams on them, are not touched: their handshake is
done. So renewal needs no server restart and no task: at a handshake past 2/3 of the
certificate's lifetime the fetcher issues the next certificate from the same CA, which the
proxies already trust, and hands it over. A server nobody connects to keeps an old
certificate, but presents it to no one: the first handshake after the renewal point renews
first, so an expired certificate is never shown.
"""

from __future__ import annotations

import datetime
import threading
import time
from collections.abc import Callable, Sequence

import grpc
import structlog

from controlplane.xds.auth_certificates import CertificateAuthority, ServingCertificate

log = structlog.get_logger("agw.xds.certificates")

SERVING_LIFETIME = datetime.timedelta(days=90)
# Renew once this share of the lifetime has passed: a failed renewal leaves a third of it
# (a month, by default) for the next handshakes to try again.
RENEW_AFTER = 2 / 3


class RenewingCertificate:
    def __init__(
        self,
        authority: CertificateAuthority,
        hosts: Sequence[str],
        lifetime: datetime.timedelta = SERVING_LIFETIME,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._authority = authority
        self._hosts = list(hosts)
        self._lifetime = lifetime
        self._clock = clock
        # The fetcher runs on gRPC's threads; one renewal at a time.
        self._lock = threading.Lock()
        self.renewals = 0
        self._renew_at = 0.0
        self.current = self._issue()

    @property
    def renew_at(self) -> float:
        """When (clock seconds) the next handshake gets a new certificate."""
        return self._renew_at

    def credentials(self) -> grpc.ServerCredentials:
        return grpc.dynamic_ssl_server_credentials(self.current.configuration(), self._fetch)

    def _issue(self) -> ServingCertificate:
        issued_at = self._clock()
        certificate = self._authority.issue(self._hosts, lifetime=self._lifetime)
        self._renew_at = issued_at + RENEW_AFTER * self._lifetime.total_seconds()
        return certificate

    def _fetch(self) -> grpc.ServerCertificateConfiguration | None:
        try:
            with self._lock:
                if self._clock() < self._renew_at:
                    return None
                self.current = self._issue()
                self.renewals += 1
            log.info(
                "xDS serving certificate renewed",
                serial=self.current.leaf.serial_number,
                not_after=self.current.leaf.not_valid_after_utc.isoformat(),
            )
            return self.current.configuration()
        except Exception:  # a failed renewal must not fail the handshake; retried on the next
            log.exception("xDS serving certificate renewal failed")
            return None
