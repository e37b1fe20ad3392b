"""One JSON line per request, built only when a listener asks for access logs."""

from __future__ import annotations

import sys
from typing import IO, Any

import structlog


class AccessLog:
    """Writes structlog JSON lines to stdout ("-") or a file, flushed per line."""

    def __init__(self, target: str) -> None:
        self.target = target
        self._file: IO[str] = sys.stdout if target == "-" else open(target, "a")  # noqa: SIM115
        self._logger = structlog.wrap_logger(
            structlog.WriteLogger(self._file),
            processors=[structlog.processors.JSONRenderer()],
        )

    def log(self, **fields: Any) -> None:
        self._logger.info("access", **fields)
        self._file.flush()

    def close(self) -> None:
        if self._file is not sys.stdout:
            self._file.close()
